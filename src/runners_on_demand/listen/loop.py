"""The listener: a session on the scale set, the long-poll loop, and the runner count it keeps.

set up      auth chain, runner group, get or create the scale set (labels kept as configured);
            a refusal no retry will change (start.py: credential, scope, runner group) ends
            the run, and `rod listen` stops (exit status 2) rather than retry it for ever
session     POST sessions; a 409 (a crashed listener's session, or a standby's) is retried
            with backoff for as long as it lasts; its statistics give the first count (none:
            the session is deleted and set up again, as [S] Run ends on "session statistics
            is nil")
poll        GET message (lastMessageId, X-ScaleSetMaxCapacity); 202 = nothing new; a 401
            renews the queue token once (PATCH; 404 = the session is gone: open a new one);
            429/5xx/empty/BOM are transient; for each message: acquire every JobAvailable
            with the queue token, then acknowledge it (so a crash in between redelivers it,
            as old ARC did), then follow its entries and scale; a message the protocol
            refuses (e.g. without statistics: [S] parseMessage) is never acknowledged, and
            the listener gives its session up and sets up again, as [S] Run ends on it
scale       after each message and each 202: scaling.py makes and retires runners (a REST
            rate limit stops it, and the loop waits as GitHub asked)
sweep       at each session and every sweep interval (scaling.py); after a rate limit, not
            before GitHub's wait is over
stop        the poll in flight is dropped, the session deleted (`service.py` drains first)
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from runners_on_demand.errors import UpstreamError
from runners_on_demand.listen.client import ScaleSetClient
from runners_on_demand.listen.credentials import ScaleSetCredentials
from runners_on_demand.listen.errors import (
    NotFound,
    Refused,
    ServiceError,
    SessionConflict,
    Unauthorized,
)
from runners_on_demand.listen.fleet import Fleet
from runners_on_demand.listen.metrics import ListenMetrics
from runners_on_demand.listen.protocol import Message, ScaleSetInfo, Session
from runners_on_demand.listen.scaling import Scaler
from runners_on_demand.listen.settings import ListenSettings
from runners_on_demand.listen.start import set_up

__all__ = ["Listener"]

log = logging.getLogger(__name__)
T = TypeVar("T")
WAIT_CAP = 30.0  # seconds between tries at most, for every retried step


class _SessionLost(Exception):
    """The session (or its scale set) is gone: set up and open a new one."""


class Listener:
    """Holds one session on the scale set and keeps as many runners as its statistics ask for."""

    def __init__(
        self,
        client: ScaleSetClient,
        scaler: Scaler,
        credentials: ScaleSetCredentials,
        *,
        settings: ListenSettings,
        metrics: ListenMetrics,
        owner: str,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._client = client
        self._scaler = scaler
        self._credentials = credentials
        self._settings = settings
        self._metrics = metrics
        self._owner = owner
        self._clock = clock
        self._sleep = sleep
        self._rng = random.Random()
        self._stopping = asyncio.Event()
        self._last_id = 0
        self._failures = 0  # in a row, since the queue last answered
        self._next_sweep = 0.0
        self.session: Session | None = None
        self.fleet: Fleet | None = None
        self.last_answer: float | None = None
        self.problem = "starting"
        self.refused: str | None = None  # why GitHub refused the set-up for good

    # --- lifecycle ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Set up, hold a session and poll until `stop()` or a refusal (`refused`); every other
        failure is tried again."""
        while not self._stopping.is_set():
            try:
                await self._set_up()
                await self._open_session()
                await self._poll()
            except Refused as refused:
                self.refused = self.problem = str(refused)
                log.error("rod listen: %s; stopping", refused)
                return
            except (_SessionLost, UpstreamError) as error:
                if self._stopping.is_set():
                    return
                self._failures += 1
                await self._drop_session(str(error))
                wait = self._wait(self._failures, getattr(error, "retry_after", None))
                log.warning("listener: %s; setting up again in %.1fs", error, wait)
                await self._pause(wait)

    def stop(self) -> None:
        """Stop polling (a poll in flight is dropped; a message in hand is finished)."""
        self._stopping.set()

    async def close(self) -> None:
        """Delete the session, so that the next listener need not wait for it to expire."""
        session, self.session = self.session, None
        if session is None:
            return
        try:
            await self._client.delete_session(session)
            log.info("listener: session %s deleted", session.id)
        except UpstreamError as error:
            log.warning("listener: could not delete session %s: %s", session.id, error)

    async def _drop_session(self, why: str) -> None:
        """Give the session up; delete it, since one GitHub still keeps refuses the next (409)."""
        if self.session is not None:
            log.warning("listener: session %s lost: %s", self.session.id, why)
            self._metrics.sessions.labels(outcome="lost").inc()
            await self.close()
        self.problem = why

    def health(self) -> dict[str, str]:
        """Each part's state for `/readyz`: ok, or one line saying what is wrong."""
        session = "ok" if self.session is not None else f"no session: {self.problem}"
        answered = self.last_answer
        silence = None if answered is None else self._clock() - answered
        limit = self._settings.poll_timeout_seconds + WAIT_CAP
        if silence is None or silence > limit:
            queue = "the message queue has not answered" + (
                "" if silence is None else f" for {silence:.0f}s"
            )
        else:
            queue = "ok"
        return {"session": session, "queue": queue}

    # --- scale set and session -----------------------------------------------------------------

    async def _set_up(self) -> None:
        """The scale set, got or created (start.py); Refused when GitHub refuses it for good."""
        self._fleet_for(await set_up(self._client, self._settings))

    def _fleet_for(self, scale_set: ScaleSetInfo) -> None:
        """A new fleet when the scale set is new (made again after it vanished)."""
        fleet = self.fleet
        if fleet is None or fleet.scale_set.id != scale_set.id:
            settings = self._settings
            fleet = Fleet(
                scale_set, settings.min_runners, settings.max_runners, settings.idle_grace_seconds
            )
            self.fleet = self._credentials.fleet = fleet
            self._last_id = 0
        fleet.scale_set = scale_set

    async def _open_session(self) -> None:
        """Create the session; a conflict is waited out (it may last minutes after a crash)."""
        fleet = self._require_fleet()
        conflicts = 0
        while True:
            try:
                session = await self._client.create_session(fleet.scale_set.id, self._owner)
                break
            except SessionConflict as error:
                conflicts += 1
                self._metrics.sessions.labels(outcome="conflict").inc()
                self.problem = str(error)
                wait = self._wait(conflicts, None)
                log.warning("listener: %s; trying again in %.1fs", error, wait)
                await self._pause(wait)
                if self._stopping.is_set():
                    raise _SessionLost("stopping") from None
        self.session = session
        if session.statistics is None:  # [S] listener.go Run: "session statistics is nil"
            raise ServiceError(f"session {session.id}: the service sent no statistics", status=200)
        self.problem = "ok"
        self._metrics.sessions.labels(outcome="created").inc()
        self._answered()
        log.info(
            "listener: session %s on scale set %s (id %d) as %s; statistics %s",
            session.id,
            fleet.scale_set.name,
            fleet.scale_set.id,
            self._owner,
            session.statistics,
        )
        fleet.statistics = session.statistics  # the first count: a restart catches up here
        await self._sweep(fleet)
        await self._scaler.scale(fleet)

    # --- the long poll ---------------------------------------------------------------------------

    async def _poll(self) -> None:
        while not self._stopping.is_set():
            try:
                message = await self._next_message()
                if self._stopping.is_set():
                    return
                if message is None:
                    await self._scaler.scale(self._require_fleet())  # 202: the last count again
                else:
                    await self._handle(message)
            except (_SessionLost, Unauthorized) as lost:
                raise _SessionLost(str(lost)) from None
            except UpstreamError as error:
                if not error.retryable:
                    raise
                self._failures += 1
                self._metrics.polls.labels(outcome="error").inc()
                wait = self._wait(self._failures, getattr(error, "retry_after", None))
                log.warning("listener: %s; polling again in %.1fs", error, wait)
                await self._pause(wait)
            if self._clock() >= self._next_sweep:
                await self._sweep(self._require_fleet())

    async def _next_message(self) -> Message | None:
        """One long poll, dropped as soon as `stop()` is called."""
        fleet = self._require_fleet()
        capacity, last = self._settings.max_runners, self._last_id
        poll = asyncio.ensure_future(
            self._queue(lambda session: self._client.get_message(session, last, capacity))
        )
        stopping = asyncio.ensure_future(self._stopping.wait())
        await asyncio.wait({poll, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not poll.done():
            poll.cancel()
            await asyncio.gather(poll, return_exceptions=True)
            return None
        message = poll.result()
        self._answered()
        self._failures = 0
        self._metrics.polls.labels(outcome="empty" if message is None else "message").inc()
        if message is not None:
            fleet.statistics = message.statistics
        return message

    async def _queue(self, call: Callable[[Session], Awaitable[T]]) -> T:
        """A call with the queue token; a 401 renews it once (PATCH the session)."""
        session = self.session
        if session is None:
            raise _SessionLost("no session")
        try:
            return await call(session)
        except Unauthorized:
            try:
                session = self.session = await self._client.refresh_session(session)
            except NotFound as gone:  # "a session ID that doesn't exist" (ARC #4356)
                raise _SessionLost(str(gone)) from None
            self._metrics.sessions.labels(outcome="refreshed").inc()
            log.info("listener: queue token renewed for session %s", session.id)
            return await call(session)

    async def _handle(self, message: Message) -> None:
        """Acquire, acknowledge, follow the entries, scale."""
        fleet = self._require_fleet()
        for entry in message.entries:
            self._metrics.entries.labels(type=entry.kind or "unknown").inc()
            fleet.apply(entry)
        await self._acquire(fleet)
        await self._queue(lambda session: self._client.delete_message(session, message.id))
        self._last_id = message.id
        await self._scaler.scale(fleet)

    async def _acquire(self, fleet: Fleet) -> None:
        """Acquire every JobAvailable not yet acquired (acquire always: actions/scaleset#75)."""
        ids = sorted(fleet.unacquired)
        if not ids:
            return
        try:
            held = await self._queue(lambda session: self._client.acquire_jobs(session, ids))
        except ServiceError as error:
            if error.retryable or isinstance(error, Unauthorized):
                raise  # the message is not acknowledged: it comes again
            log.error("listener: acquiring %s refused, not retried: %s", ids, error)
            held = []
        for request_id in ids:  # the others were taken elsewhere, or are gone
            fleet.unacquired.pop(request_id, None)
        self._metrics.acquired.inc(len(held))
        log.info("listener: acquired %d of %d available jobs", len(held), len(ids))

    # --- scaling ---------------------------------------------------------------------------------

    async def _sweep(self, fleet: Fleet) -> None:
        """A sweep now; the next one an interval later, or once GitHub's rate limit allows."""
        self._next_sweep = self._clock() + self._settings.sweep_interval_seconds
        wait = await self._scaler.sweep(fleet)
        self._next_sweep = max(self._next_sweep, self._clock() + wait)

    def _require_fleet(self) -> Fleet:
        if self.fleet is None:
            raise _SessionLost("no scale set yet")
        return self.fleet

    def _answered(self) -> None:
        self.last_answer = self._clock()
        self._metrics.last_answer.set(self.last_answer)

    def _wait(self, failures: int, retry_after: float | None) -> float:
        """Half fixed, half random, doubling to WAIT_CAP; never below the server's Retry-After."""
        ceiling = min(WAIT_CAP, 0.25 * 2.0 ** min(failures, 10))
        return max(retry_after or 0.0, ceiling / 2 + self._rng.uniform(0, ceiling / 2))

    async def _pause(self, seconds: float) -> None:
        """Sleep, but wake up at once on `stop()`."""
        sleeper = asyncio.ensure_future(self._sleep(seconds))
        stopping = asyncio.ensure_future(self._stopping.wait())
        await asyncio.wait({sleeper, stopping}, return_when=asyncio.FIRST_COMPLETED)
        for task in (sleeper, stopping):
            task.cancel()
