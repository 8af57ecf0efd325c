"""The line of runners waiting to be started: first come, first served; held aside while GitHub's
rate limit is spent, or parked while their runner job cannot be dispatched; withdrawn when their
job ends before a worker took them.

    put() -> get() -> (a worker carries it out) -> done()
                   -> hold(seconds) -> back in line, in its old place, after the wait
                   -> park(key) -> back in line, in its old place, at unpark(key)

Every runner put is one unfinished task until done() or withdraw(); join() waits for them all.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from runners_on_demand.decision import StartRunner
from runners_on_demand.events import WorkflowJobEvent

__all__ = ["Line", "PendingStart"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PendingStart:
    """A decided event waiting for a worker."""

    event: WorkflowJobEvent
    start: StartRunner
    received_at: float  # on the pipeline's monotonic clock


@dataclass(order=True, frozen=True, slots=True)
class _Ticket:
    """A runner's place in line: its sequence number orders it, also after a hold."""

    seq: int
    pending: PendingStart = field(compare=False)


class Line:
    """A bounded priority queue by arrival, with holds and withdrawals."""

    def __init__(
        self,
        size: int,
        *,
        sleep: Callable[[float], Awaitable[None]],
        monotonic: Callable[[], float],
    ) -> None:
        self.size = size
        self._sleep = sleep
        self._monotonic = monotonic
        # Unbounded: `put` bounds what waits; a withdrawn ticket stays in it until `get`.
        self._queue: asyncio.PriorityQueue[_Ticket] = asyncio.PriorityQueue()
        self._seq = itertools.count()
        # Runners queued, held or being carried out, by name.
        self.pending: dict[str, PendingStart] = {}
        self._waiting: dict[str, _Ticket] = {}  # queued or held: not taken by a worker yet
        self._taken: dict[str, _Ticket] = {}  # being carried out by a worker
        self._held: list[_Ticket] = []
        self._parked: dict[str, list[_Ticket]] = {}  # by key (their runner job)
        self._withdrawn: set[int] = set()  # tickets still in the queue, to be skipped
        self._release: asyncio.Task[None] | None = None
        self._wake = 0.0  # when `_release` wakes, on the monotonic clock

    @property
    def depth(self) -> int:
        """Runners queued for a worker (held and parked ones not counted)."""
        return len(self._waiting) - len(self._held) - sum(map(len, self._parked.values()))

    @property
    def held(self) -> int:
        """Runners held until GitHub's rate limit resets."""
        return len(self._held)

    def put(self, pending: PendingStart) -> bool:
        """Queue a runner at the back; False when the line is full."""
        if len(self._waiting) >= self.size:
            return False
        ticket = _Ticket(next(self._seq), pending)
        self._queue.put_nowait(ticket)
        self._waiting[pending.start.runner_name] = ticket
        self.pending[pending.start.runner_name] = pending
        return True

    async def get(self) -> PendingStart:
        """The first runner in line, for a worker (who then calls done() or hold())."""
        while True:
            ticket = await self._queue.get()
            if ticket.seq in self._withdrawn:  # already done, when it was withdrawn
                self._withdrawn.discard(ticket.seq)
                continue
            name = ticket.pending.start.runner_name
            self._taken[name] = self._waiting.pop(name)
            return ticket.pending

    def done(self, pending: PendingStart) -> None:
        """A worker finished with this runner, whatever came of it."""
        self._taken.pop(pending.start.runner_name, None)
        self.pending.pop(pending.start.runner_name, None)
        self._queue.task_done()

    def hold(self, pending: PendingStart, seconds: float) -> None:
        """Set a runner aside for `seconds`; it goes back in line with its old place."""
        name = pending.start.runner_name
        ticket = self._taken.pop(name)
        self._held.append(ticket)
        self._waiting[name] = ticket
        wake = self._monotonic() + seconds
        if self._release is None or self._release.done() or wake < self._wake:
            if self._release is not None:
                self._release.cancel()  # only ever cancelled while it sleeps
            self._wake = wake
            self._release = asyncio.create_task(self._release_after(seconds), name="rod-release")

    def park(self, pending: PendingStart, key: str) -> None:
        """Set a runner aside until `unpark(key)`; it goes back in line with its old place."""
        name = pending.start.runner_name
        ticket = self._taken.pop(name)
        self._parked.setdefault(key, []).append(ticket)
        self._waiting[name] = ticket

    def unpark(self, key: str) -> int:
        """Put every runner parked under `key` back in line, in its old place; how many."""
        tickets = self._parked.pop(key, [])
        for ticket in tickets:
            self._queue.put_nowait(ticket)
            self._queue.task_done()  # still one unfinished task per runner, as when parked
        return len(tickets)

    def parked(self) -> dict[str, int]:
        """How many runners are parked, by key."""
        return {key: len(tickets) for key, tickets in self._parked.items()}

    def withdraw(
        self, name: str, *, or_else: Callable[[PendingStart], bool]
    ) -> PendingStart | None:
        """Take out runner `name` if it still waits, else the first waiting one `or_else` takes."""
        ticket = self._waiting.get(name) or next(
            (t for t in sorted(self._waiting.values()) if or_else(t.pending)), None
        )
        if ticket is None:
            return None
        taken = ticket.pending.start.runner_name
        del self._waiting[taken]
        del self.pending[taken]
        parked = next((p for p in self._parked.values() if ticket in p), None)
        if ticket in self._held:
            self._held.remove(ticket)
        elif parked is not None:
            parked.remove(ticket)
        else:
            self._withdrawn.add(ticket.seq)
        self._queue.task_done()
        return ticket.pending

    async def join(self) -> None:
        """Wait until every runner put so far is done or withdrawn (held and parked ones too)."""
        await self._queue.join()

    async def close(self) -> None:
        """Stop the release timer; held runners stay where they are."""
        if self._release is not None:
            self._release.cancel()
            await asyncio.gather(self._release, return_exceptions=True)
            self._release = None

    async def _release_after(self, seconds: float) -> None:
        """After the shortest hold, every held runner goes back in line, in its old order.

        Those whose credential is still paused (another installation's longer wait) are held
        again at once by the rate gate, without a call.
        """
        await self._sleep(seconds)
        ready, self._held = self._held, []
        log.info("releasing %d held runners, first come first served", len(ready))
        for ticket in ready:
            self._queue.put_nowait(ticket)
            self._queue.task_done()  # still one unfinished task per runner, as when held
