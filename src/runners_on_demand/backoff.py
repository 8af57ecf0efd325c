"""Exponential backoff with full jitter, bounded by attempts and by a deadline."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """When to try again after a retryable failure; all times in seconds."""

    # Long enough to ride out an upstream outage of minutes; the reconciler covers longer ones.
    max_attempts: int = 40
    base: float = 0.5
    cap: float = 30.0
    deadline: float = 900.0

    def delay(
        self,
        attempt: int,
        *,
        elapsed: float,
        retry_after: float | None = None,
        rng: random.Random | None = None,
    ) -> float | None:
        """Seconds to sleep before attempt `attempt + 1`, or None to give up.

        Full jitter (AWS architecture blog, "Exponential Backoff And Jitter"): a uniform draw in
        [0, min(cap, base * 2**(attempt-1))]; a server's Retry-After is a floor, never shortened.
        """
        if attempt >= self.max_attempts:
            return None
        draw = (rng or random).uniform(0.0, min(self.cap, self.base * 2 ** (attempt - 1)))
        wait = max(draw, retry_after or 0.0)
        if elapsed + wait > self.deadline:
            return None
        return wait
