"""Tests for runners_on_demand.ports.github_pacing: slots in a sliding minute, calls at once."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from runners_on_demand.ports.github_pacing import Pacer, endpoint, points
from tests.runners_on_demand.fakes import SleepingClock

JIT = "/repos/acme/app/actions/runners/generate-jitconfig"


def pacer(clock: SleepingClock, **kw: int | float) -> Pacer:
    return Pacer(monotonic=clock.monotonic, sleep=clock.sleep, **kw)  # type: ignore[arg-type]


class TestEndpoint:
    @pytest.mark.parametrize(
        ("method", "path", "expected"),
        [
            ("post", JIT, "POST /repos/{owner}/{repo}/actions/runners/generate-jitconfig"),
            ("GET", "/repos/o/r/runners?page=2", "GET /repos/{owner}/{repo}/runners"),
            ("GET", "/repositories/9/runners?page=2", "GET /repos/{owner}/{repo}/runners"),
            ("GET", "https://api.github.com/orgs/a/hooks?page=2", "GET /orgs/{org}/hooks"),
            ("DELETE", "/repos/o/r/runners/42", "DELETE /repos/{owner}/{repo}/runners/{id}"),
            ("GET", "/repos/o/r/runs/7/jobs", "GET /repos/{owner}/{repo}/runs/{id}/jobs"),
            ("POST", "/orgs/acme/runners/x", "POST /orgs/{org}/runners/x"),
            ("POST", "/app/installations/9/tokens", "POST /app/installations/{id}/tokens"),
        ],
    )
    def test_one_endpoint_for_every_repository_and_id(
        self, method: str, path: str, expected: str
    ) -> None:
        assert endpoint(method, path) == expected

    def test_points(self) -> None:
        assert [points(m) for m in ("GET", "HEAD", "OPTIONS")] == [1, 1, 1]
        assert [points(m) for m in ("POST", "PATCH", "PUT", "DELETE")] == [5, 5, 5, 5]


class TestReserve:
    def test_180_jit_runners_a_minute_then_the_window_must_slide(self) -> None:
        clock = SleepingClock()
        pace = pacer(clock)
        waits = [pace.reserve("app", "POST", JIT) for _ in range(181)]
        assert waits[:180] == [0.0] * 180
        assert waits[180] == 61.0  # a minute, plus a second of skew, after the first
        assert pace.reserve("app", "POST", JIT) == 61.0  # the second slot of that minute

    def test_a_burst_of_1000_takes_the_five_minutes_the_limit_allows(self) -> None:
        clock = SleepingClock()
        pace = pacer(clock)
        last = max(pace.reserve("app", "POST", f"/repos/o/r{n % 7}/x") for n in range(1000))
        assert last == 5 * 61.0  # batches of 180 at 0, 61, ..., 305 s

    def test_slots_spread_out_when_calls_come_steadily(self) -> None:
        clock = SleepingClock()
        pace = pacer(clock, points_per_minute=10)  # 2 writes a window
        assert pace.reserve("k", "POST", JIT) == 0.0
        clock.now += 30
        assert pace.reserve("k", "POST", JIT) == 0.0
        clock.now += 1
        assert pace.reserve("k", "POST", JIT) == 30.0  # 61 s after the first
        assert pace.reserve("k", "POST", JIT) == 60.0  # 61 s after the second

    def test_reads_cost_a_point_and_every_endpoint_and_credential_has_its_own_budget(
        self,
    ) -> None:
        clock = SleepingClock()
        pace = pacer(clock, points_per_minute=10)
        assert [pace.reserve("k", "GET", "/repos/o/r/actions/runners") for _ in range(11)] == [
            0.0
        ] * 10 + [61.0]
        assert pace.reserve("k", "POST", JIT) == 0.0
        assert pace.reserve("k", "GET", "/repos/o/r/actions/runs") == 0.0
        assert pace.reserve("other", "GET", "/repos/o/r/actions/runners") == 0.0


class TestCall:
    async def test_a_call_waits_for_its_slot(self) -> None:
        clock = SleepingClock()
        pace = pacer(clock, points_per_minute=5)
        async with pace.call("k", "POST", JIT):
            pass
        async with pace.call("k", "POST", JIT):
            pass
        assert clock.slept == [61.0]

    async def test_at_most_so_many_calls_at_once(self) -> None:
        pace = Pacer(concurrent=2)
        inside = 0
        most = 0
        release = asyncio.Event()

        async def one() -> None:
            nonlocal inside, most
            async with pace.call("k", "GET", "/rate_limit"):
                inside += 1
                most = max(most, inside)
                await release.wait()
                inside -= 1

        tasks = [asyncio.create_task(one()) for _ in range(5)]
        await asyncio.sleep(0.01)
        assert inside == 2
        release.set()
        await asyncio.gather(*tasks)
        assert most == 2


class TestTheGitHubAdapterPaces:
    async def test_the_181st_jit_runner_of_a_minute_waits_for_its_slot(self) -> None:
        from runners_on_demand.ports.github import GitHubHttp
        from runners_on_demand.ports.github_auth import PatAuth

        def answer(request: httpx.Request) -> httpx.Response:
            body = {"runner": {"id": 1}, "encoded_jit_config": "e30="}
            return httpx.Response(201, json=body)

        clock = SleepingClock()
        transport = httpx.MockTransport(answer)
        async with httpx.AsyncClient(transport=transport, base_url="https://gh.test") as client:
            github = GitHubHttp(client, PatAuth("t"), pacer=pacer(clock))
            for n in range(181):
                body = {"name": f"rod-{n}-1", "runner_group_id": 1, "labels": ["x"]}
                await github.generate_jitconfig("acme", f"app{n % 3}", body)
        assert clock.slept == [61.0]
