"""GitHub's secondary rate limits, enforced when switched on: points per endpoint, concurrency.

Facts relied on (github/docs data/reusables/rest-api/secondary-rate-limit-rest-graphql.md and
content/rest/using-the-rest-api/rate-limits-for-the-rest-api.md#exceeding-the-rate-limit):
- "No more than 100 concurrent requests are allowed";
- "No more than 900 points per minute are allowed for REST API endpoints": most GET, HEAD and
  OPTIONS requests cost 1 point, most POST, PATCH, PUT and DELETE requests 5;
- over a secondary limit GitHub answers 403 or 429 "and an error message that indicates that you
  exceeded a secondary rate limit", with a `retry-after` header when it wants a given wait.
An answer observed in 2026 (a burst of POSTs to one endpoint, 181 accepted, then refused): 403,
`retry-after: 60`, no `x-ratelimit-*` headers, and the body
`{"documentation_url": ".../rate-limits-for-the-rest-api#about-secondary-rate-limits",
"message": "You have exceeded a secondary rate limit. Please wait a few minutes ..."}`.

GitHub does not publish its algorithm; the emulator's, written down in simulator/README.md: per
caller (token, installation or App) and endpoint (method + route), the points of the requests
it answered in the last 60 seconds of the emulator's clock; a request that would take them past
the budget is refused and costs nothing. Concurrency counts the caller's requests in progress.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

from simulator.github.errors import SecondaryRateLimited

WINDOW_SECONDS = 60.0
READS = frozenset({"GET", "HEAD", "OPTIONS"})


def points(method: str) -> int:
    """The points a request costs: reads 1, writes 5."""
    return 1 if method.upper() in READS else 5


@dataclass
class SecondarySettings:
    """The switch and its numbers (GitHub's documented values by default)."""

    enabled: bool = False
    points_per_minute: int = 900
    concurrency: int = 100
    status: int = 403  # GitHub answers 403 or 429; 403 is what was observed
    retry_after: int = 60

    def __post_init__(self) -> None:
        if not isinstance(self.enabled, bool):
            raise ValueError("enabled must be true or false")
        numbers = (self.points_per_minute, self.concurrency, self.status, self.retry_after)
        if not all(isinstance(n, int) and not isinstance(n, bool) for n in numbers):
            raise ValueError("points_per_minute, concurrency, status and retry_after are integers")
        if self.points_per_minute < 5 or self.concurrency < 1 or self.retry_after < 0:
            raise ValueError("points_per_minute >= 5, concurrency >= 1, retry_after >= 0")
        if self.status not in (403, 429):
            raise ValueError("status must be 403 or 429, as GitHub answers")


@dataclass(frozen=True)
class Ticket:
    """A request let through; hand it back to `leave` when it is answered."""

    caller: str


@dataclass
class SecondaryLimits:
    """Points spent per (caller, endpoint) in the sliding minute, and requests in progress."""

    settings: SecondarySettings = field(default_factory=SecondarySettings)
    _spent: dict[tuple[str, str], deque[tuple[float, int]]] = field(default_factory=dict)
    _in_flight: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def enter(
        self, caller: str, method: str, route: str, now: float, request_id: str
    ) -> Ticket | None:
        """Let a request in, or raise SecondaryRateLimited; None when the switch is off."""
        s = self.settings
        if not s.enabled:
            return None
        cost = points(method)
        with self._lock:
            spent = self._spent.setdefault((caller, f"{method.upper()} {route}"), deque())
            while spent and spent[0][0] <= now - WINDOW_SECONDS:
                spent.popleft()
            used = sum(cost for _, cost in spent)
            if used + cost > s.points_per_minute or self._in_flight.get(caller, 0) >= s.concurrency:
                raise SecondaryRateLimited(request_id, status=s.status, retry_after=s.retry_after)
            spent.append((now, cost))
            self._in_flight[caller] = self._in_flight.get(caller, 0) + 1
        return Ticket(caller)

    def leave(self, ticket: Ticket | None) -> None:
        """The request let in with `ticket` has been answered."""
        if ticket is None:
            return
        with self._lock:
            left = self._in_flight.get(ticket.caller, 1) - 1
            if left:
                self._in_flight[ticket.caller] = left
            else:
                self._in_flight.pop(ticket.caller, None)

    def configure(self, settings: SecondarySettings) -> None:
        """Switch on or off, or change the numbers; what was spent so far is forgotten."""
        with self._lock:
            self.settings = settings
            self._spent.clear()

    def describe(self, now: float) -> dict[str, Any]:
        """The settings, the points spent in the last minute and the requests in progress."""
        with self._lock:
            spent = {
                f"{caller} {endpoint}": sum(c for t, c in log if t > now - WINDOW_SECONDS)
                for (caller, endpoint), log in self._spent.items()
            }
            return {
                **asdict(self.settings),
                "points": {k: v for k, v in spent.items() if v},
                "in_flight": dict(self._in_flight),
            }
