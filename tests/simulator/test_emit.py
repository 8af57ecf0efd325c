"""Tests for simulator.emit: payloads, the wire format, and `rod sim emit` against a real server."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from click.testing import CliRunner
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from runners_on_demand.delivery import Ping, WorkflowJobEvent, parse_delivery
from simulator.emit import (
    EmitError,
    Target,
    build_delivery,
    command,
    read_recorded,
    workflow_job_payload,
)
from simulator.github.webhooks import Hook
from simulator.serving import ServerThread, free_port

SECRET = "It's a Secret to Everybody"


@dataclass
class Receiver:
    """A webhook endpoint that records raw deliveries and answers with a scripted status."""

    url: str = ""
    status: int = 202
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    def app(self) -> Starlette:
        async def webhook(request: Request) -> Response:
            self.received.append((dict(request.headers), await request.body()))
            return JSONResponse({"ok": self.status < 300}, status_code=self.status)

        return Starlette(routes=[Route("/webhook", webhook, methods=["POST"])])

    def last(self) -> tuple[dict[str, str], bytes]:
        (only,) = self.received
        return only


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    endpoint = Receiver()
    with ServerThread(endpoint.app()) as server:
        endpoint.url = f"{server.url}/webhook"
        yield endpoint


def _emit(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(command, list(args), env={"GITHUB_WEBHOOK_SECRET": None})
    return result.exit_code, result.output


class TestWorkflowJobPayload:
    def test_queued_has_no_runner(self) -> None:
        payload = workflow_job_payload(
            Target("octo/hello"), action="queued", labels=["self-hosted", "gpu"],
            job_id=11, run_id=22, run_attempt=2, job_name="test", now=0.0,
        )  # fmt: skip
        job = payload["workflow_job"]
        assert payload["action"] == "queued"
        assert (job["id"], job["run_id"], job["run_attempt"], job["name"]) == (11, 22, 2, "test")
        assert job["labels"] == ["self-hosted", "gpu"]
        assert (job["status"], job["conclusion"]) == ("queued", None)
        assert [job[k] for k in ("runner_id", "runner_name", "runner_group_id")] == [None] * 3
        assert payload["repository"]["full_name"] == "octo/hello"
        assert payload["repository"]["html_url"] == "https://github.com/octo/hello"

    def test_completed_carries_the_conclusion_and_a_runner(self) -> None:
        payload = workflow_job_payload(
            Target("octo/hello"), action="completed", labels=["self-hosted"], job_id=1,
            run_id=2, conclusion="failure", now=0.0,
        )  # fmt: skip
        job = payload["workflow_job"]
        assert (job["status"], job["conclusion"], job["runner_name"]) == (
            "completed", "failure", "rod-1-1",
        )  # fmt: skip

    def test_unknown_action(self) -> None:
        with pytest.raises(ValueError, match="action must be one of"):
            workflow_job_payload(
                Target("o/r"), action="started", labels=[], job_id=1, run_id=1, now=0.0
            )


class TestBuildDelivery:
    def test_signed_like_github(self) -> None:
        config = {"url": "http://x", "content_type": "json", "secret": SECRET}
        hook = Hook(3, "o/r", 9, ["workflow_job"], True, config, 0.0, 0.0)
        headers, body = build_delivery(hook, "ping", {"zen": "z"}, delivery_id="guid-1")
        mac = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert headers["X-Hub-Signature-256"] == f"sha256={mac}"
        assert headers["X-Hub-Signature"].startswith("sha1=")
        assert headers["User-Agent"].startswith("GitHub-Hookshot/")
        assert (headers["X-GitHub-Delivery"], headers["X-GitHub-Hook-ID"]) == ("guid-1", "3")
        assert headers["X-GitHub-Hook-Installation-Target-ID"] == "9"


class TestReadRecorded:
    def test_plain_body(self) -> None:
        assert read_recorded('{"zen": "z"}') == (None, {"zen": "z"})

    def test_headers_and_form_body(self) -> None:
        raw = "payload=" + json.dumps({"action": "queued"}).replace(" ", "+")
        text = json.dumps({"headers": {"X-GitHub-Event": "workflow_job"}, "body": raw})
        assert read_recorded(text) == ("workflow_job", {"action": "queued"})

    def test_a_hook_delivery_from_the_rest_api(self) -> None:
        delivery = {
            "id": 1,
            "guid": "g",
            "event": "workflow_job",
            "request": {"headers": {"X-GitHub-Event": "workflow_job"}, "payload": {"a": 1}},
            "response": {"headers": {}, "payload": "ok"},
        }
        assert read_recorded(json.dumps(delivery)) == ("workflow_job", {"a": 1})

    @pytest.mark.parametrize(
        ("text", "problem"),
        [
            ("nope", "not JSON"),
            ("[1]", "not a JSON object"),
            ('{"headers": {}, "body": "payload=%7B"}', "neither JSON nor"),
            ('{"headers": {}, "body": [1]}', "not a JSON object"),
            ('{"headers": [1], "body": {}}', "headers are not a JSON object"),
        ],
    )
    def test_bad_files(self, text: str, problem: str) -> None:
        with pytest.raises(EmitError, match=problem):
            read_recorded(text)


class TestCommand:
    def test_workflow_job_is_accepted_by_the_dispatchers_parser(self, receiver: Receiver) -> None:
        code, output = _emit(
            "--url", receiver.url, "--secret", SECRET, "--action", "queued",
            "--labels", "self-hosted,linux", "--repo", "octo/hello", "--job-id", "42",
            "--run-id", "7", "--run-attempt", "2", "--job-name", "unit", "--hook-id", "5",
        )  # fmt: skip
        assert code == 0, output
        assert output.splitlines()[0] == "202 Accepted"
        headers, body = receiver.last()
        assert headers["content-type"] == "application/json"
        uuid.UUID(headers["x-github-delivery"])
        event = parse_delivery(headers, body, secret=SECRET)
        assert isinstance(event, WorkflowJobEvent)
        assert (event.action, event.job_id, event.run_id, event.run_attempt) == (
            "queued", 42, 7, 2,
        )  # fmt: skip
        assert (event.labels, event.repo_full_name, event.origin.key.partition("/")[0]) == (
            ("self-hosted", "linux"), "octo/hello", "5",
        )  # fmt: skip

    def test_form_body_and_fixed_delivery_id(self, receiver: Receiver) -> None:
        code, _ = _emit(
            "--url", receiver.url, "--secret", SECRET, "--content-type", "form",
            "--delivery-id", "d-1",
        )  # fmt: skip
        headers, body = receiver.last()
        assert code == 0
        assert headers["content-type"] == "application/x-www-form-urlencoded"
        assert headers["x-github-delivery"] == "d-1"
        assert json.loads(parse_qs(body.decode())["payload"][0])["action"] == "queued"
        assert isinstance(parse_delivery(headers, body, secret=SECRET), WorkflowJobEvent)

    def test_ping(self, receiver: Receiver) -> None:
        code, _ = _emit("--url", receiver.url, "--secret", SECRET, "--event", "ping")
        headers, body = receiver.last()
        assert code == 0
        assert headers["x-github-event"] == "ping"
        assert isinstance(parse_delivery(headers, body, secret=SECRET), Ping)
        assert json.loads(body)["hook"]["config"]["secret"] == "********"

    def test_without_a_secret_nothing_is_signed(self, receiver: Receiver) -> None:
        assert _emit("--url", receiver.url)[0] == 0
        headers, _ = receiver.last()
        assert "x-hub-signature-256" not in headers and "x-hub-signature" not in headers

    def test_from_a_recorded_delivery(self, receiver: Receiver, tmp_path: Path) -> None:
        recorded = workflow_job_payload(
            Target("octo/recorded"), action="completed", labels=["self-hosted"], job_id=9,
            run_id=8, now=0.0,
        )  # fmt: skip
        path = tmp_path / "delivery.json"
        path.write_text(
            json.dumps({"headers": {"X-GitHub-Event": "workflow_job"}, "body": recorded})
        )

        code, _ = _emit("--url", receiver.url, "--secret", SECRET, "--from-file", str(path))

        headers, body = receiver.last()
        assert code == 0
        assert json.loads(body) == recorded
        assert headers["x-github-hook-installation-target-id"] == str(recorded["repository"]["id"])
        event = parse_delivery(headers, body, secret=SECRET)
        assert isinstance(event, WorkflowJobEvent) and event.action == "completed"

    def test_a_refused_delivery_prints_the_answer_and_fails(self, receiver: Receiver) -> None:
        receiver.status = 401
        code, output = _emit("--url", receiver.url, "--secret", "wrong")
        assert code == 1
        assert output.splitlines() == ["401 Unauthorized", '{"ok":false}']

    def test_unreachable(self) -> None:
        url = f"http://127.0.0.1:{free_port()}/webhook"
        code, output = _emit("--url", url)
        assert code == 1
        assert output == f"Error: cannot deliver to {url}: ConnectError\n"

    def test_bad_repo(self) -> None:
        code, output = _emit("--url", "http://127.0.0.1:1/", "--repo", "no-slash")
        assert code == 2
        assert "--repo" in output and "OWNER/NAME" in output
