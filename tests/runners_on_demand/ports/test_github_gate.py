"""Tests for runners_on_demand.ports.github_gate, alone and in front of the GitHub port."""

from __future__ import annotations

import logging
from email.utils import formatdate

import httpx
import pytest
import respx

from runners_on_demand.errors import GitHubRateLimited
from runners_on_demand.ports.github import GitHubHttp
from runners_on_demand.ports.github_auth import PatAuth
from runners_on_demand.ports.github_gate import RateGate
from runners_on_demand.ports.github_pacing import Pacer
from tests.runners_on_demand.ports.test_github import (
    API,
    JIT_ANSWER,
    JIT_BODY,
    JIT_PATH,
    NOW,
    Clock,
)

SPENT = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) + 600)}


class TestRateGate:
    def test_an_answer_with_nothing_left_pauses_until_the_reset(self) -> None:
        clock = Clock(NOW)
        gate = RateGate(clock)
        gate.admit("token", "GitHub GET /x")  # open
        gate.observe("token", SPENT)
        with pytest.raises(GitHubRateLimited) as refused:
            gate.admit("token", "GitHub GET /x")
        assert refused.value.status is None and refused.value.retry_after == 600
        assert "not sent; GitHub's rate limit for token is spent until" in str(refused.value)
        clock.now += 600
        gate.admit("token", "GitHub GET /x")

    def test_each_credential_has_its_own_gate(self) -> None:
        gate = RateGate(Clock(NOW))
        gate.pause("installation 1", NOW + 60, "rate limit answer")
        gate.admit("installation 2", "GitHub GET /x")
        assert gate.paused_for("installation 1") == 60

    def test_a_pause_is_logged_once_and_never_shortened(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        gate = RateGate(Clock(NOW))
        for until in (NOW + 600, NOW + 30, NOW + 600):
            gate.pause("token", until, "primary limit spent")
        assert gate.paused_for("token") == 600
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1 and "no calls with it until" in warnings[0].getMessage()

    def test_the_reset_is_read_by_githubs_clock(self) -> None:
        # Our clock 30 s ahead of GitHub's: the reset is 600 s after the answer's Date, not 570
        # after our now (nor, 600 s ahead, already past, which paused nothing and let every
        # call go on through the limit).
        for ahead in (30, 600):
            clock = Clock(NOW)
            clock.now += ahead
            gate = RateGate(clock)
            gate.observe("token", {**SPENT, "date": formatdate(NOW, usegmt=True)})
            assert gate.paused_for("token") == 600

    def test_answers_with_budget_left_change_nothing(self) -> None:
        gate = RateGate(Clock(NOW))
        gate.observe("token", {"x-ratelimit-remaining": "1", "x-ratelimit-reset": "1"})
        gate.observe("token", {})
        assert gate.paused_for("token") == 0


class TestGateInFrontOfThePort:
    @staticmethod
    def port(router: respx.Router, clock: Clock) -> GitHubHttp:
        client = httpx.AsyncClient(base_url=API, transport=httpx.MockTransport(router.handler))
        return GitHubHttp(client, PatAuth("ghp_t"), clock=clock)

    async def test_after_a_refusal_no_call_is_sent_until_the_reset(self) -> None:
        router, clock = respx.Router(base_url=API), Clock(NOW)
        route = router.post(JIT_PATH)
        route.side_effect = [
            httpx.Response(403, json={"message": "API rate limit exceeded"}, headers=SPENT),
            httpx.Response(201, json=JIT_ANSWER),
        ]
        github = self.port(router, clock)
        for _ in range(3):
            with pytest.raises(GitHubRateLimited):
                await github.generate_jitconfig("octo", "hello", JIT_BODY)
        assert route.call_count == 1  # the refusal; the two others were never sent
        clock.now += 600
        assert (await github.generate_jitconfig("octo", "hello", JIT_BODY)) is not None
        assert route.call_count == 2

    async def test_a_pause_that_comes_while_a_call_waits_for_its_slot_stops_it(self) -> None:
        router, clock = respx.Router(base_url=API), Clock(NOW)
        route = router.post(JIT_PATH).respond(201, json=JIT_ANSWER)
        github = self.port(router, clock)

        async def meanwhile(seconds: float) -> None:  # another call's answer spends the limit
            github.gate.pause("token", clock.now + 600, "primary limit spent")

        github.pacer = Pacer(points_per_minute=5, sleep=meanwhile)  # one JIT call a minute
        await github.generate_jitconfig("octo", "hello", JIT_BODY)
        with pytest.raises(GitHubRateLimited):
            await github.generate_jitconfig("octo", "hello", JIT_BODY)
        assert route.call_count == 1

    async def test_the_last_request_of_the_budget_closes_the_gate(self) -> None:
        router, clock = respx.Router(base_url=API), Clock(NOW)
        route = router.post(JIT_PATH).respond(201, json=JIT_ANSWER, headers=SPENT)
        github = self.port(router, clock)
        await github.generate_jitconfig("octo", "hello", JIT_BODY)
        with pytest.raises(GitHubRateLimited):
            await github.generate_jitconfig("octo", "hello", JIT_BODY)
        assert route.call_count == 1  # never refused by GitHub: never asked while spent

    async def test_a_secondary_limit_pauses_for_its_retry_after(self) -> None:
        router, clock = respx.Router(base_url=API), Clock(NOW)
        router.post(JIT_PATH).respond(
            429, json={"message": "slow down"}, headers={"retry-after": "30"}
        )
        github = self.port(router, clock)
        with pytest.raises(GitHubRateLimited):
            await github.generate_jitconfig("octo", "hello", JIT_BODY)
        assert github.gate.paused_for("token") == 30

    async def test_readiness_still_asks_github_while_paused(self) -> None:
        router, clock = respx.Router(base_url=API), Clock(NOW)
        rate = router.get("/rate_limit").respond(200, json={})
        github = self.port(router, clock)
        github.gate.pause("token", NOW + 600, "primary limit spent")
        await github.check()  # /rate_limit costs no quota: /readyz keeps its meaning
        assert rate.called
