"""Pacing to GitHub's secondary rate limits: points per minute per endpoint, calls at once.

GitHub documents (data/reusables/rest-api/secondary-rate-limit-rest-graphql.md): at most 100
concurrent requests, and at most 900 points per minute per REST endpoint, a GET, HEAD or OPTIONS
costing 1 point and a POST, PATCH, PUT or DELETE 5; so about 180 generate-jitconfig calls a
minute per credential. GitHub publishes no algorithm, so the pacer keeps to the strictest
reading: in any 60 seconds (plus a second for clock and network skew) a credential spends at most
900 points on one endpoint (method + route, whatever the repository), in the order the calls
asked. A call over budget is not refused but given the first slot the window allows, and
waits for it; so a burst of 1,000 JIT runners takes the five minutes the limit allows, none of
them answered 403 (GitHub warns that an integration that keeps calling while limited may be
banned). A `retry-after` or a spent primary limit pauses the credential whole (github_gate.py).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

__all__ = ["Pacer", "endpoint", "points"]

POINTS_PER_MINUTE = 900
WINDOW_SECONDS = 60.0
# Added to the window: GitHub's clock is not ours, and a call arrives after it is sent.
SKEW_SECONDS = 1.0
MAX_CONCURRENT = 100
_READS = frozenset({"GET", "HEAD", "OPTIONS"})
# Path segments that name one resource of an endpoint: `/repos/{owner}/{repo}`,
# `/orgs/{org}`, `/app/installations/{id}`, numeric ids.
_REPO = re.compile(r"^/(?:repos/[^/]+/[^/]+|repositories/\d+)")
_ORG = re.compile(r"^/orgs/[^/]+")
_NUMBER = re.compile(r"/\d+(?=/|$)")


def points(method: str) -> int:
    """What a call costs: reads 1 point, writes 5."""
    return 1 if method.upper() in _READS else 5


def endpoint(method: str, path: str) -> str:
    """The endpoint a call is counted against: its method and route, e.g.
    `POST /repos/{owner}/{repo}/actions/runners/generate-jitconfig`."""
    # A `link: next` URL names the repository by id (`/repositories/{id}/...`): the same endpoint.
    route = _REPO.sub("/repos/{owner}/{repo}", urlsplit(path).path)
    route = _NUMBER.sub("/{id}", _ORG.sub("/orgs/{org}", route))
    return f"{method.upper()} {route}"


class Pacer:
    """Slots per (credential, endpoint) in a sliding minute, and a cap on calls at once."""

    def __init__(
        self,
        *,
        points_per_minute: int = POINTS_PER_MINUTE,
        window: float = WINDOW_SECONDS + SKEW_SECONDS,
        concurrent: int = MAX_CONCURRENT,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._budget = points_per_minute
        self._window = window
        self._concurrent = concurrent
        self._monotonic = monotonic
        self._sleep = sleep
        self._slots: dict[tuple[str, str], deque[float]] = {}
        self._running: dict[str, asyncio.Semaphore] = {}

    def reserve(self, key: str, method: str, path: str) -> float:
        """Take the next slot of this credential's endpoint; seconds until it comes."""
        calls = max(self._budget // points(method), 1)  # per window on this endpoint
        slots = self._slots.setdefault((key, endpoint(method, path)), deque(maxlen=calls))
        now = self._monotonic()
        # The slot `calls` back must have left the window before this one may start.
        at = max(now, slots[0] + self._window) if len(slots) == calls else now
        slots.append(at)
        return at - now

    @asynccontextmanager
    async def call(self, key: str, method: str, path: str) -> AsyncIterator[None]:
        """Wait for this call's slot and for room among the calls at once, then make it."""
        wait = self.reserve(key, method, path)
        if wait > 0:
            await self._sleep(wait)
        running = self._running.setdefault(key, asyncio.Semaphore(self._concurrent))
        async with running:
            yield
