"""Exponential backoff with full jitter, and the retry loop that tells when it waits."""

from __future__ import annotations

import asyncio
import random

from runners_on_demand.backoff import Backoff, Retrier, backing_off
from runners_on_demand.errors import UpstreamError


class TestDelay:
    def test_full_jitter_within_the_exponential_bound(self) -> None:
        backoff = Backoff(max_attempts=10, base=0.5, cap=4.0, deadline=1000.0)
        rng = random.Random(7)
        for attempt, bound in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (8, 4.0)]:
            draws = [backoff.delay(attempt, elapsed=0, rng=rng) for _ in range(200)]
            assert all(d is not None and 0 <= d <= bound for d in draws)
            assert max(d for d in draws if d is not None) > bound / 2  # jitter spreads out

    def test_retry_after_is_a_floor(self) -> None:
        backoff = Backoff(base=0.5)
        assert backoff.delay(1, elapsed=0, retry_after=30.0) == 30.0

    def test_gives_up_after_max_attempts(self) -> None:
        backoff = Backoff(max_attempts=3)
        assert backoff.delay(2, elapsed=0) is not None
        assert backoff.delay(3, elapsed=0) is None

    def test_gives_up_past_the_deadline(self) -> None:
        backoff = Backoff(deadline=60.0)
        assert backoff.delay(1, elapsed=59.0, retry_after=2.0) is None
        assert backoff.delay(1, elapsed=10.0, retry_after=2.0) == 2.0


class TestRetrier:
    async def test_each_wait_is_told_to_the_task_that_set_backing_off(self) -> None:
        told: list[str] = []
        slept: list[float] = []

        async def sleep(seconds: float) -> None:
            told.append("sleep")
            slept.append(seconds)

        answers: list[Exception | str] = [UpstreamError("502"), UpstreamError("502"), "made"]

        async def call() -> str:
            answer = answers.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer

        async def carried_out() -> str:
            backing_off.set(lambda: told.append("waiting"))
            return await Retrier(Backoff(base=1.0), sleep=sleep).run("runner", call)

        assert await asyncio.create_task(carried_out()) == "made"
        assert told == ["waiting", "sleep", "waiting", "sleep"] and len(slept) == 2
        assert backing_off.get() is None  # another task's setting stays its own
