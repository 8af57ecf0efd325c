"""Many deadlines under one time limit, at the price of one event-loop timer.

`asyncio.timeout` arms and cancels a timer of the event loop on each use: about 6 us with uvloop,
a tenth of what a delivery costs the process otherwise. When every deadline is set with the same
limit, the deadlines fall due in the order they were set, and one timer, armed for the oldest,
is enough: when it fires, it hands over what is overdue and arms itself for the next. Under a
steady flow it fires about once per `limit`. `DueInOrder` is that timer (the edge's request
heads, limits.py); `Deadlines` cuts off awaits with it (the webhook body reads).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Iterator
from typing import Generic, TypeVar

__all__ = ["Deadlines", "DueInOrder"]

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


class DueInOrder(Generic[K]):
    """Keys each due `limit` seconds after `wait`, oldest first; `overdue(key)` for each that
    is still here when its time has passed."""

    def __init__(self, limit: float, overdue: Callable[[K], None]) -> None:
        self.limit = limit
        self._overdue = overdue
        self._due: dict[K, float] = {}  # in the order set, so of deadlines
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # the timer's

    def wait(self, key: K, loop: asyncio.AbstractEventLoop) -> None:
        """`key` is due `limit` seconds from now (later than any other: set again, it moves)."""
        self._due.pop(key, None)
        self._due[key] = deadline = loop.time() + self.limit
        if self._timer is None or self._loop is not loop:  # (a test may run a loop per server)
            self._loop = loop
            self._timer = loop.call_at(deadline, self._expire)

    def pop(self, key: K) -> None:
        """`key` is no longer due."""
        self._due.pop(key, None)

    def __contains__(self, key: object) -> bool:
        return key in self._due

    def __iter__(self) -> Iterator[K]:
        """The keys, oldest first."""
        return iter(self._due)

    def _expire(self) -> None:
        """Hand over every overdue key; arm the timer for the next deadline, if any."""
        assert self._loop is not None
        self._timer = None
        now = self._loop.time()
        while self._due:
            key, deadline = next(iter(self._due.items()))
            if deadline > now:
                self._timer = self._loop.call_at(deadline, self._expire)
                return
            del self._due[key]
            self._overdue(key)


class Deadlines:
    """`await deadlines.within(x)`: `x`, or TimeoutError once it has taken `limit` seconds."""

    def __init__(self, limit: float) -> None:
        self._due: DueInOrder[asyncio.Task[object]] = DueInOrder(limit, self._cancel)
        self._expired: set[asyncio.Task[object]] = set()

    @property
    def limit(self) -> float:
        """The seconds each await may take (fixed, so deadlines come in the order set)."""
        return self._due.limit

    async def within(self, awaitable: Awaitable[T]) -> T:
        """Await `awaitable` in the current task, for `limit` seconds at most."""
        task = asyncio.current_task()
        assert task is not None, "Deadlines.within runs in a task"
        self._due.wait(task, asyncio.get_running_loop())
        try:
            return await awaitable
        except asyncio.CancelledError:
            if task not in self._expired:
                raise  # cancelled by someone else: shutdown
            task.uncancel()  # ours, turned into the timeout (as asyncio.timeout does)
            raise TimeoutError from None
        finally:
            self._due.pop(task)
            self._expired.discard(task)

    def _cancel(self, task: asyncio.Task[object]) -> None:
        """An overdue await: cancelled, as `asyncio.timeout` would."""
        self._expired.add(task)
        task.cancel()
