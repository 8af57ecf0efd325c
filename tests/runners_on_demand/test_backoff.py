"""Exponential backoff with full jitter."""

from __future__ import annotations

import random

from runners_on_demand.backoff import Backoff


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
