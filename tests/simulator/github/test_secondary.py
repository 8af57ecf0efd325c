"""The switch enforcing GitHub's secondary rate limits, over HTTP (in-process and on a socket)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from simulator.github.secondary import SecondaryLimits, SecondarySettings, points
from tests.simulator.github.conftest import REPO, GitHub

JIT = f"/repos/{REPO}/actions/runners/generate-jitconfig"
RUNNERS = f"/repos/{REPO}/actions/runners"
REGISTRATION = f"/repos/{REPO}/actions/runners/registration-token"
OBSERVED_DOCS = (
    "https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api"
    "#about-secondary-rate-limits"
)


async def switch(github: GitHub, **settings: Any) -> dict[str, Any]:
    response = await github.client.post("/_sim/secondary-limits", json=settings)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def jit(github: GitHub, n: int) -> httpx.Response:
    return await github.client.post(
        JIT, json={"name": f"runner-{n}", "runner_group_id": 1, "labels": ["self-hosted"]}
    )


class TestTheSwitch:
    async def test_off_by_default(self, github: GitHub) -> None:
        shown = (await github.client.get("/_sim/secondary-limits")).json()
        assert shown["enabled"] is False
        statuses = {(await jit(github, n)).status_code for n in range(200)}
        assert statuses == {201}

    async def test_bad_settings_are_refused_in_one_line(self, github: GitHub) -> None:
        for body in ({"enabled": "yes"}, {"status": 500}, {"points_per_minute": 1}, {"nope": 1}):
            response = await github.client.post("/_sim/secondary-limits", json=body)
            assert response.status_code == 400, body
            assert "\n" not in response.json()["message"]

    async def test_a_reset_switches_it_off_again(self, github: GitHub) -> None:
        await switch(github, enabled=True)
        assert (await github.client.post("/_sim/reset")).status_code == 204
        assert (await github.client.get("/_sim/secondary-limits")).json()["enabled"] is False


class TestPointsPerEndpoint:
    async def test_180_jit_runners_a_minute_then_403_with_retry_after(self, github: GitHub) -> None:
        await switch(github, enabled=True)
        accepted = [await jit(github, n) for n in range(180)]
        assert {r.status_code for r in accepted} == {201}
        refused = await jit(github, 180)
        assert refused.status_code == 403
        assert refused.headers["retry-after"] == "60"
        assert not any(name.startswith("x-ratelimit") for name in refused.headers)
        body = refused.json()
        assert set(body) == {"documentation_url", "message"}
        assert body["documentation_url"] == OBSERVED_DOCS
        request_id = refused.headers["x-github-request-id"]
        assert body["message"].startswith("You have exceeded a secondary rate limit.")
        assert body["message"].endswith(f"please include the request ID {request_id}.")
        shown = (await github.client.get("/_sim/secondary-limits")).json()
        assert shown["points"] == {
            f"user:{github.backend.user.id} POST {JIT.replace(REPO, '{owner}/{repo}')}": 900
        }

    async def test_a_refused_request_costs_nothing(self, github: GitHub) -> None:
        await switch(github, enabled=True, points_per_minute=10)
        before = int((await github.client.get(RUNNERS)).headers["x-ratelimit-remaining"])
        assert [(await jit(github, n)).status_code for n in range(4)] == [201, 201, 403, 403]
        after = int((await github.client.get(RUNNERS)).headers["x-ratelimit-remaining"])
        assert after == before - 3  # two JIT runners and this GET; the refusals were free
        assert len(github.backend.dump()["runners"]) == 2

    async def test_reads_cost_one_point_and_each_endpoint_has_its_own_budget(
        self, github: GitHub
    ) -> None:
        await switch(github, enabled=True, points_per_minute=10)
        reads = [(await github.client.get(RUNNERS)).status_code for _ in range(11)]
        assert reads == [200] * 10 + [403]
        assert (await jit(github, 1)).status_code == 201
        assert (await github.client.post(REGISTRATION)).status_code == 201

    async def test_the_minute_slides_on_the_emulators_clock(self, github: GitHub) -> None:
        await switch(github, enabled=True, points_per_minute=10)
        assert [(await jit(github, n)).status_code for n in range(3)] == [201, 201, 403]
        await github.client.post("/_sim/clock", json={"advance_seconds": 59})
        assert (await jit(github, 3)).status_code == 403
        await github.client.post("/_sim/clock", json={"advance_seconds": 1})
        assert [(await jit(github, n)).status_code for n in range(4, 7)] == [201, 201, 403]

    async def test_429_when_asked_for(self, github: GitHub) -> None:
        await switch(github, enabled=True, points_per_minute=5, status=429, retry_after=7)
        assert (await jit(github, 0)).status_code == 201
        refused = await jit(github, 1)
        assert (refused.status_code, refused.headers["retry-after"]) == (429, "7")


class TestConcurrency:
    async def test_a_request_beyond_the_concurrency_limit_is_refused(self, github: GitHub) -> None:
        await switch(github, enabled=True, concurrency=1)
        release = asyncio.Event()

        async def slow_body() -> AsyncIterator[bytes]:
            yield b'{"name": "slow", "runner_group_id": 1, '
            await release.wait()
            yield b'"labels": ["self-hosted"]}'

        slow = asyncio.create_task(
            github.client.post(
                JIT, content=slow_body(), headers={"Content-Type": "application/json"}
            )
        )
        for _ in range(200):  # until the slow request holds its place
            if (await github.client.get("/_sim/secondary-limits")).json()["in_flight"]:
                break
            await asyncio.sleep(0.01)
        refused = await github.client.get(RUNNERS)
        assert refused.status_code == 403 and "secondary rate limit" in refused.json()["message"]
        release.set()
        assert (await slow).status_code == 201
        assert (await github.client.get(RUNNERS)).status_code == 200


class TestPoints:
    @pytest.mark.parametrize(("method", "cost"), [("GET", 1), ("HEAD", 1), ("OPTIONS", 1)])
    def test_reads(self, method: str, cost: int) -> None:
        assert points(method) == cost

    @pytest.mark.parametrize("method", ["POST", "PATCH", "PUT", "DELETE"])
    def test_writes(self, method: str) -> None:
        assert points(method) == 5

    def test_off_lets_everything_in(self) -> None:
        limits = SecondaryLimits(SecondarySettings())
        assert limits.enter("user:1", "POST", "/x", 0.0, "id") is None
