"""One monotonic index (Nomad's Raft index) that wakes blocking queries on any thread's change."""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable
from typing import Concatenate, ParamSpec, Protocol, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


class Locked(Protocol):
    """An object whose state is guarded by `lock` (the backend's shared RLock)."""

    lock: threading.RLock


S = TypeVar("S", bound=Locked)


def locked(method: Callable[Concatenate[S, P], R]) -> Callable[Concatenate[S, P], R]:
    """Run the method while holding `self.lock`."""

    @functools.wraps(method)
    def wrapper(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with self.lock:
            return method(self, *args, **kwargs)

    return wrapper


MAX_WAIT_SECONDS = 300.0  # structs.go L210-214: blocking queries are capped at 5 minutes


class IndexWatch:
    """A counter starting at 1; `bump()` from any thread wakes every `wait_beyond()` coroutine."""

    def __init__(self) -> None:
        self._index = 1
        self._lock = threading.Lock()
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    @property
    def index(self) -> int:
        """The latest index."""
        with self._lock:
            return self._index

    def bump(self) -> int:
        """Advance the index and wake every waiter; returns the new index."""
        with self._lock:
            self._index += 1
            index = self._index
        self.notify()
        return index

    def notify(self) -> None:
        """Wake every waiter so it re-reads its own index (e.g. after an event was published)."""
        with self._lock:
            waiters = list(self._waiters)
        for loop, event in waiters:
            if not loop.is_closed():
                loop.call_soon_threadsafe(event.set)

    def reset(self) -> None:
        """Back to 1 (and wake waiters, which then see their index is no longer current)."""
        with self._lock:
            self._index = 1
        self.bump()

    async def wait_beyond(self, current: Callable[[], int], min_index: int, timeout: float) -> int:
        """Wait until `current()` exceeds `min_index` or `timeout` passes; return `current()`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + min(timeout, MAX_WAIT_SECONDS)
        while True:
            event = asyncio.Event()
            entry = (loop, event)
            with self._lock:
                self._waiters.add(entry)
            try:
                value = current()
                remaining = deadline - loop.time()
                if value > min_index or remaining <= 0:
                    return value
                try:
                    await asyncio.wait_for(event.wait(), remaining)
                except TimeoutError:
                    return current()
            finally:
                with self._lock:
                    self._waiters.discard(entry)
