"""Tests for simulator.runner.client: request shape and the mapping of answers to errors."""

from __future__ import annotations

import json

import httpx
import pytest

from simulator.runner.client import ActionsClient, Job, actions_base_for
from simulator.runner.errors import CredentialRejected, ServerUnavailable

BASE = "http://emulator.test/_actions"


def _client(handler: httpx.MockTransport) -> ActionsClient:
    return ActionsClient(httpx.AsyncClient(transport=handler), BASE)


def test_actions_base_is_the_repository_origin() -> None:
    assert actions_base_for("http://127.0.0.1:8081/octo/hello") == "http://127.0.0.1:8081/_actions"


class TestRequests:
    async def test_poll_sends_bearer_and_wait(self) -> None:
        seen: list[httpx.Request] = []

        def handler(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            job = {"job_id": 5, "run_id": 6, "name": "b", "labels": ["x"], "duration_seconds": 2}
            return httpx.Response(200, json=job)

        job = await _client(httpx.MockTransport(handler)).get_job("sec", "s1", wait=2.5)

        assert job == Job(5, 6, "b", ("x",), 2.0, "success")
        assert seen[0].url == f"{BASE}/sessions/s1/job?wait=2.5"
        assert seen[0].headers["authorization"] == "Bearer sec"

    async def test_register_body(self) -> None:
        bodies: list[object] = []

        def handler(request: httpx.Request) -> httpx.Response:
            bodies.append(json.loads(request.content))
            return httpx.Response(201, json={"runner_id": 1, "jit_config": "J"})

        client = _client(httpx.MockTransport(handler))
        assert await client.register(token="t", name="n", labels=("a", "b")) == "J"
        assert await client.register(token="t", name="n", labels=("a",), runner_group="g") == "J"
        assert bodies == [
            {"token": "t", "name": "n", "labels": ["a", "b"], "ephemeral": True},
            {"token": "t", "name": "n", "labels": ["a"], "ephemeral": True, "runner_group": "g"},
        ]

    async def test_no_job_yet(self) -> None:
        client = _client(httpx.MockTransport(lambda r: httpx.Response(204)))
        assert await client.get_job("s", "x", wait=0) is None


class TestErrors:
    @pytest.mark.parametrize("status", [401, 403])
    async def test_refused_credential(self, status: int) -> None:
        answer = httpx.Response(status, json={"message": "Runner credential expired"})
        client = _client(httpx.MockTransport(lambda r: answer))
        with pytest.raises(CredentialRejected, match=f"\\({status}\\): Runner credential expired"):
            await client.create_session("s")

    async def test_server_error_keeps_the_first_line_of_a_text_body(self) -> None:
        answer = httpx.Response(500, text="boom\nstack trace")
        client = _client(httpx.MockTransport(lambda r: answer))
        with pytest.raises(ServerUnavailable, match="POST /sessions answered 500: boom stack"):
            await client.create_session("s")

    async def test_unexpected_shape(self) -> None:
        client = _client(httpx.MockTransport(lambda r: httpx.Response(201, json={"x": 1})))
        with pytest.raises(ServerUnavailable, match="lacks session_id"):
            await client.create_session("s")

    async def test_not_json(self) -> None:
        client = _client(httpx.MockTransport(lambda r: httpx.Response(200, text="<html>")))
        with pytest.raises(ServerUnavailable, match="not JSON"):
            await client.get_job("s", "x", wait=0)

    async def test_timeout(self) -> None:
        def handler(request: httpx.Request) -> httpx.Response:
            raise httpx.ReadTimeout("slow", request=request)

        with pytest.raises(ServerUnavailable, match="did not answer in time"):
            await _client(httpx.MockTransport(handler)).delete_session("s", "x")
