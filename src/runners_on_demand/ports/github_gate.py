"""One "paused until" per GitHub credential, which every call made with that credential passes.

GitHub's primary rate limit belongs to a credential: a token, an App installation, or the App
itself (its JWT calls). Once an answer says the budget is spent (`x-ratelimit-remaining: 0`, on
a success as much as on the 403/429 that refuses a call) or a secondary limit asks for a pause
(`retry-after`, or "wait at least one minute"), the gate refuses every later call with that
credential, without sending it, until the reset: GitHub warns that an integration which keeps
calling while limited may be banned.
https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api#exceeding-the-rate-limit

GitHub's clock, not ours, says when a reset comes: the wait is taken from the answer's own `Date`,
so a dispatcher whose clock runs ahead still waits rather than calling on through the limit.

A refused call raises `GitHubRateLimited` with the seconds left; callers choose what waiting
means (the pipeline holds its jobs, in order, until then; the reconciler skips its GitHub reads).
Pacing to the secondary limits (points per minute per endpoint, calls at once) is
github_pacing.py's: a call passes this gate, then waits there for its slot.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from runners_on_demand.errors import GitHubRateLimited

__all__ = ["RateGate", "reset_wait"]

log = logging.getLogger(__name__)


class RateGate:
    """Per credential key, the epoch second before which no call may be made."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._paused: dict[str, float] = {}

    def paused_for(self, key: str) -> float:
        """Seconds until `key` may call again; 0 when it may call now."""
        return max(0.0, self._paused.get(key, 0.0) - self._clock())

    def admit(self, key: str, where: str) -> None:
        """Let a call with `key` through, or raise `GitHubRateLimited` while it is paused."""
        wait = self.paused_for(key)
        if wait > 0:
            until = _clock_time(self._paused[key])
            raise GitHubRateLimited(
                f"{where}: not sent; GitHub's rate limit for {key} is spent until {until}",
                status=None,
                retry_after=wait,
            )

    def observe(self, key: str, headers: Mapping[str, str]) -> None:
        """Pause `key` until the reset when an answer says its budget is spent."""
        # Any answer: the call that spent the last request succeeded, the next one would not.
        if headers.get("x-ratelimit-remaining") != "0":
            return
        wait = reset_wait(headers, self._clock())
        if wait is None:
            return  # the refusal itself (GitHubRateLimited) still pauses, through `pause`
        self.pause(key, self._clock() + wait, "primary limit spent")

    def pause(self, key: str, until: float, reason: str) -> None:
        """No call with `key` before the epoch second `until`; logged once per pause."""
        if until <= self._paused.get(key, 0.0) or until <= self._clock():
            return
        fresh = self.paused_for(key) == 0
        self._paused[key] = until
        if fresh:
            log.warning(
                "GitHub %s for %s: no calls with it until %s (%.0fs)",
                reason,
                key,
                _clock_time(until),
                until - self._clock(),
            )


def _clock_time(epoch: float) -> str:
    """An epoch second as `HH:MM:SS UTC`, for log lines."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%H:%M:%S UTC")


def reset_wait(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds until `x-ratelimit-reset` by GitHub's clock (the answer's `Date`, else `now`);
    None without a reset."""
    try:
        reset = float(headers.get("x-ratelimit-reset", ""))
    except ValueError:
        return None
    try:
        # RFC 9110 section 6.6.1: the origin's clock when it made the answer, to the second.
        answered = parsedate_to_datetime(headers.get("date", "")).timestamp()
    except (TypeError, ValueError):
        answered = now
    return max(0.0, reset - answered)
