"""The outbound loop: a thread with an event loop of its own, where every call to GitHub or
Nomad is made (the pipeline's workers, the reconciler, `/readyz`'s probes).

Why a second loop: uvicorn answers webhooks on its event loop, which runs every ready callback
before it looks at its sockets again. With the workers on that loop, a delivery that arrives
while credentials and dispatches are being made waits behind all of their ready steps (JSON,
HTTP parsing, TLS), and a burst of queued jobs stretches every acknowledgement. On a loop of
their own the workers still share the interpreter, but CPython hands its lock over every
`SWITCH_INTERVAL` seconds at most, so an arriving delivery waits at most about that long; with
nothing outbound to do, the outbound loop sleeps in its selector and costs nothing. A process
of its own would also use a second core, but would split the pipeline's state (queue, recent
deliveries, metrics) across processes; a thread keeps `Pipeline.offer` a plain call.
Objects bound to a loop (httpx clients, the pipeline's queue) are made and used on this one.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import sys
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["SWITCH_INTERVAL", "OutboundLoop"]

log = logging.getLogger(__name__)
T = TypeVar("T")
# CPython's default is 5 ms: an acknowledgement would wait that long behind a busy worker.
SWITCH_INTERVAL = 0.0005


class OutboundLoop:
    """An event loop running in a daemon thread until `stop()`."""

    def __init__(
        self,
        loop_factory: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop,
        *,
        name: str = "rod-outbound",
    ) -> None:
        self.loop = loop_factory()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()

    def start(self) -> None:
        """Start the thread; calls from other threads may be made from now on."""
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL))
        self._thread.start()

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run `coroutine` on the outbound loop; its result as a thread-safe future."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    async def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Await `coroutine` run on the outbound loop, from another loop (or this one)."""
        if asyncio.get_running_loop() is self.loop:
            return await coroutine
        return await asyncio.wrap_future(self.submit(coroutine))

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the loop once what runs now has been let go, and wait for the thread."""
        if not self._thread.is_alive():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.error("the outbound loop did not stop within %.0fs", timeout)
