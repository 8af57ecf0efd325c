"""One time limit for many awaits, at the price of one event-loop timer (the body reads' limit).

`asyncio.timeout` arms and cancels a timer of the event loop on each use: about 6 us with uvloop,
a tenth of what a delivery costs the process otherwise. Every webhook body is read under the same
limit, so the deadlines fall due in the order they were set, and one timer, armed for the oldest,
is enough: when it fires, it cancels the tasks whose await is overdue, as `asyncio.timeout`
would, and arms itself for the next. Under a steady flow it fires about once per `limit`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

__all__ = ["Deadlines"]

T = TypeVar("T")


class Deadlines:
    """`await deadlines.within(x)`: `x`, or TimeoutError once it has taken `limit` seconds."""

    def __init__(self, limit: float) -> None:
        self._limit = limit
        self._due: dict[asyncio.Task[object], float] = {}  # in the order set, so of deadlines
        self._expired: set[asyncio.Task[object]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # the timer's

    @property
    def limit(self) -> float:
        """The seconds each await may take (fixed, so deadlines come in the order set)."""
        return self._limit

    async def within(self, awaitable: Awaitable[T]) -> T:
        """Await `awaitable` in the current task, for `limit` seconds at most."""
        task = asyncio.current_task()
        assert task is not None, "Deadlines.within runs in a task"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._limit
        self._due[task] = deadline
        if self._timer is None or self._loop is not loop:  # (a test may run a loop per request)
            self._loop = loop
            self._timer = loop.call_at(deadline, self._expire)
        try:
            return await awaitable
        except asyncio.CancelledError:
            if task not in self._expired:
                raise  # cancelled by someone else: shutdown
            task.uncancel()  # ours, turned into the timeout (as asyncio.timeout does)
            raise TimeoutError from None
        finally:
            self._due.pop(task, None)
            self._expired.discard(task)

    def _expire(self) -> None:
        """Cancel every overdue await; arm the timer for the next deadline, if any."""
        self._timer = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        while self._due:
            task, deadline = next(iter(self._due.items()))
            if deadline > now:
                self._timer = loop.call_at(deadline, self._expire)
                return
            del self._due[task]
            self._expired.add(task)
            task.cancel()
