"""The repositories heard of, kept across restarts in one Nomad Variable (the I/O of heard.py).

`rod serve` acknowledges a `queued` webhook before its runner reaches Nomad, and GitHub never
redelivers an acknowledged delivery: when the process dies in between, only the restarted
reconciler can serve that job, and only if it still knows the repository. So the reconciler
reads the Variable `[reconcile] state_variable` when it starts (and at ticks until a read
worked), serving what it names; `run` writes it soon after an intake names a repository afresh
(off the webhook's path), and each tick writes it when the set changed. A write checks and sets
(`PUT /v1/var/:path?cas=<ModifyIndex>`); one that lost (409) reads the Variable again, merges,
and tries again, so replicas keep each other's repositories. A failed read or write is one log
line: the reconciler and the intakes go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping

from runners_on_demand.errors import UpstreamError
from runners_on_demand.ports import NomadPort, VariableConflict
from runners_on_demand.reconcile.heard import combine, decode, differs, encode
from runners_on_demand.reconcile.repos import ServedRepos

__all__ = ["HeardVariable"]

log = logging.getLogger(__name__)

ATTEMPTS = 3  # writes of one save: the first, and two more after lost check-and-sets
SETTLE = 1.0  # seconds `run` waits after a new repository, so a burst costs one write


class HeardVariable:
    """Reads and writes the Nomad Variable that keeps `served`'s repositories heard of."""

    def __init__(
        self,
        nomad: NomadPort,
        path: str,
        served: ServedRepos,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.path = path
        self._nomad = nomad
        self._served = served
        self._sleep = sleep
        self._stored: dict[str, tuple[str, float]] = {}  # as Nomad holds it, at `_index`
        self._index = 0  # 0: create only (`?cas=0`)
        self._loaded = False
        self._lock = asyncio.Lock()
        self._grew = asyncio.Event()
        served.on_new = self._grew.set

    @property
    def held(self) -> Mapping[str, tuple[str, float]] | None:
        """What the Variable held when last read or written (as `heard()`); None before a read
        worked."""
        return dict(self._stored) if self._loaded else None

    async def run(self) -> None:
        """Read the Variable, then write it soon after each new repository, until cancelled."""
        await self.load()
        while True:
            await self._grew.wait()
            await self._sleep(SETTLE)
            self._grew.clear()
            await self.save()

    async def load(self) -> None:
        """Serve the repositories the Variable names; nothing once a read has worked."""
        async with self._lock:
            if self._loaded:
                return
            with _failures("read", self.path):
                await self._read()
                self._loaded = True
                self._served.seed(self._stored)
                if self._stored:
                    log.info(
                        "reconcile: Nomad Variable %s names %d repositories heard of before",
                        self.path,
                        len(self._stored),
                    )

    async def save(self) -> None:
        """Write the Variable if the repositories heard of changed since it was read or written."""
        async with self._lock:
            with _failures("write", self.path):
                for _ in range(ATTEMPTS):
                    if await self._written():
                        return
                log.warning(
                    "reconcile: Nomad Variable %s: %d writes lost to other writers; next tick",
                    self.path,
                    ATTEMPTS,
                )

    async def _written(self) -> bool:
        """Write what the Variable should hold, unless it does; False when the check-and-set lost
        (another replica wrote meanwhile: read again, to merge with theirs)."""
        served = self._served
        wanted = combine(self._stored, served.heard(), gone=served.gone, cutoff=served.cutoff())
        if not differs(self._stored, wanted):
            return True
        written = await self._nomad.put_variable(self.path, encode(wanted), cas=self._index)
        if isinstance(written, VariableConflict):
            await self._read()
            return False
        self._stored, self._index = wanted, written.modify_index
        return True

    async def _read(self) -> None:
        """Take in the Variable as Nomad holds it now."""
        variable = await self._nomad.read_variable(self.path)
        self._index = variable.meta.modify_index if variable else 0
        try:
            self._stored = decode(variable.items) if variable else {}
        except ValueError as error:
            self._stored = {}
            log.warning("reconcile: Nomad Variable %s: %s; rewriting it", self.path, error)


@contextlib.contextmanager
def _failures(doing: str, path: str) -> Iterator[None]:
    """A failed call is one line; a bug is logged whole. Neither stops the reconciler."""
    try:
        yield
    except UpstreamError as error:
        log.warning("reconcile: cannot %s Nomad Variable %s: %s", doing, path, error)
    except Exception:
        log.exception("reconcile: Nomad Variable %s: unexpected error", path)
