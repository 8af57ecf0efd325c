"""Exponential backoff with full jitter, bounded by attempts and by a deadline, and its loop."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TypeVar

from runners_on_demand.errors import GitHubRateLimited, UpstreamError

log = logging.getLogger(__name__)
T = TypeVar("T")

# Called, in the task that set it, each time a retry is about to wait: the pipeline's worker
# then takes the next runner while this one waits (pipeline.py, dispatch_process.py).
backing_off: ContextVar[Callable[[], None] | None] = ContextVar("backing_off", default=None)


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


class Retrier:
    """Calls an upstream until it succeeds, fails for good, or the backoff gives up."""

    def __init__(
        self,
        backoff: Backoff | None = None,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.backoff = backoff or Backoff()
        self.sleep = sleep
        self.monotonic = monotonic
        self._rng = rng or random.Random()

    async def run(
        self,
        where: str,
        call: Callable[[], Awaitable[T]],
        *,
        passes: tuple[type[UpstreamError], ...] = (),
    ) -> T:
        """`call()` again after each retryable `UpstreamError`, honouring `retry_after`.

        Errors of the `passes` types are raised at once, for the caller to wait them out.
        """
        started = self.monotonic()
        attempt = 0
        while True:
            attempt += 1
            try:
                return await call()
            except UpstreamError as error:
                if not error.retryable or isinstance(error, passes):
                    raise
                retry_after = error.retry_after if isinstance(error, GitHubRateLimited) else None
                wait = self.backoff.delay(
                    attempt,
                    elapsed=self.monotonic() - started,
                    retry_after=retry_after,
                    rng=self._rng,
                )
                if wait is None:
                    raise
                log.warning(
                    "%s: attempt %d failed (%s); retry in %.2fs", where, attempt, error, wait
                )
                notify = backing_off.get()
                if notify is not None:
                    notify()
                await self.sleep(wait)
