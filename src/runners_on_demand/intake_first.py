"""Intake first: on the event loop `rod serve` shares, outbound calls wait while webhooks come in.

uvicorn answers webhooks on one event loop, and the reconciler and the probes make their GitHub
and Nomad calls on it too. An event loop runs every ready callback before it looks at its
sockets again, so a delivery arriving during a burst of calls would wait behind their JSON, HTTP
and TLS work, and every acknowledgement would stretch. Here each
outbound call first waits (`turn`) until no webhook is being answered and none was for
`quiet` seconds; the edge marks each webhook (`answering`). So when deliveries come in, the loop
spends itself on them and the calls go in the gaps between; a call never waits longer than
`longest`, so the queue still drains under a sustained flood. Acknowledging is what GitHub
times (10 s, and a failed delivery is never sent again); a call may wait a few milliseconds.

`rod serve` carries its runners out in a process of its own (dispatch_process.py), so what is
left on this loop is the reconciler's calls, `/readyz`'s probes and each runner's hand-over;
with `[server] dispatch_process = false`, the workers' calls too.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["IntakeFirst"]

# The gap after the last webhook before calls go again: longer than the loop needs between two
# deliveries of a burst, far shorter than a person notices.
QUIET_SECONDS = 0.002
# The longest a call waits for the intake: under a flood, every call still goes this often.
LONGEST_SECONDS = 0.05


class IntakeFirst:
    """Who goes first on the loop: the webhook edge; outbound calls take their `turn` after."""

    def __init__(
        self,
        *,
        quiet: float = QUIET_SECONDS,
        longest: float = LONGEST_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._quiet = quiet
        self._longest = longest
        self._monotonic = monotonic
        self._sleep = sleep
        self._answering = 0
        self._last = -quiet  # no webhook yet

    def answering(self) -> IntakeFirst:
        """Around the answer to one webhook: `with intake.answering(): ...`."""
        return self

    def __enter__(self) -> None:
        self._answering += 1

    def __exit__(self, *_: object) -> None:
        self._answering -= 1
        self._last = self._monotonic()

    def busy(self) -> bool:
        """Whether a webhook is being answered or was within `quiet` seconds."""
        return bool(self._answering) or self._monotonic() - self._last < self._quiet

    async def turn(self, *_: Any) -> None:
        """Wait until the intake is quiet, `longest` seconds at most (an httpx request hook)."""
        if not self.busy():
            return
        give_up = self._monotonic() + self._longest
        while self.busy() and self._monotonic() < give_up:
            await self._sleep(self._quiet)
