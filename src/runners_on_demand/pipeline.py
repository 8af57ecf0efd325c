"""The pipeline every intake feeds: decide, then (behind a bounded queue) credential and dispatch.

    intake --WorkflowJobEvent--> offer(): decide -> Ignore, or StartRunner queued
    worker: credential (RunnerCredentials) -> contract (build_dispatch) -> dispatch (NomadPort)

An intake (the webhook edge, the reconciler, the scale-set listener) hands events to `offer`,
or, when it has decided itself (the reconciler's retries), a `StartRunner` to `submit`; nothing
here knows which intake it was. Every upstream call retries with backoff while the error is
retryable; a Nomad validation error or a contract breach is logged loudly and dropped.
Duplicates are stopped by recent event origins and by runner names queued or already dispatched
here, and across replicas by Nomad's idempotency token and GitHub's unique runner name.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass

from runners_on_demand.backoff import Retrier
from runners_on_demand.bounded import BoundedSet
from runners_on_demand.config import ServerSettings
from runners_on_demand.contract import RunnerCredential, build_dispatch
from runners_on_demand.credentials import RunnerCredentials
from runners_on_demand.decision import Ignore, Policy, StartRunner, decide
from runners_on_demand.errors import ContractError, NomadRejected, UpstreamError
from runners_on_demand.events import Origin, WorkflowJobEvent
from runners_on_demand.metrics import Metrics
from runners_on_demand.ports import NomadPort

__all__ = ["Admission", "Admitted", "Outcome", "PendingStart", "Pipeline"]

log = logging.getLogger(__name__)


class Admission(enum.Enum):
    """What the queue did with a runner to start."""

    QUEUED = "queued"
    DUPLICATE = "duplicate"  # this origin, or this runner name, is already queued or done
    FULL = "full"  # the queue is full or draining: the intake should offer it again later


@dataclass(frozen=True)
class Admitted:
    """A runner to start, and what the queue did with it."""

    start: StartRunner
    admission: Admission


class Outcome(enum.StrEnum):
    """How a worker finished a runner; the `outcome` label of `rod_dispatches_total`."""

    DISPATCHED = "dispatched"
    EXISTING = "existing"  # Nomad already had a child with this idempotency token
    RUNNER_EXISTS = "runner_exists"  # another try holds this runner (generate-jitconfig 409)
    REJECTED = "rejected"  # Nomad refused it as invalid, or the contract would break
    FAILED = "failed"  # upstreams kept failing until the backoff gave up
    ERROR = "error"  # a bug; logged with its traceback


@dataclass(frozen=True)
class PendingStart:
    """A decided event waiting for a worker."""

    event: WorkflowJobEvent
    start: StartRunner
    received_at: float  # on the pipeline's monotonic clock


class Pipeline:
    """A bounded queue and a pool of workers turning decided events into Nomad dispatches."""

    def __init__(
        self,
        credentials: RunnerCredentials,
        nomad: NomadPort,
        *,
        policy: Policy,
        settings: ServerSettings,
        metrics: Metrics,
        retrier: Retrier | None = None,
        on_repo: Callable[[str], None] = lambda full_name: None,
    ) -> None:
        self._credentials = credentials
        self._nomad = nomad
        self.policy = policy
        self._settings = settings
        self._metrics = metrics
        self._retrier = retrier or Retrier()
        self._on_repo = on_repo  # the reconciler serves every repository an intake named
        self._queue: asyncio.Queue[PendingStart] = asyncio.Queue(maxsize=settings.queue_size)
        self._recent: BoundedSet[Origin] = BoundedSet(settings.dedup_size)
        # Runners this process saw reach Nomad: a late copy would make a JIT runner only to
        # meet the idempotency token and delete it again.
        self._dispatched: BoundedSet[str] = BoundedSet(settings.dedup_size)
        self._pending: dict[str, PendingStart] = {}
        self._workers: list[asyncio.Task[None]] = []
        self._accepting = False
        self._in_flight = 0
        metrics.track_queue(self._queue.qsize)

    @property
    def monotonic(self) -> Callable[[], float]:
        """The clock `received_at` is read on."""
        return self._retrier.monotonic

    def start(self) -> None:
        """Start the workers (inside the running event loop)."""
        self._accepting = True
        self._workers = [
            asyncio.create_task(self._work(), name=f"rod-worker-{n}")
            for n in range(self._settings.workers)
        ]

    async def stop(self) -> None:
        """Refuse new work, let the workers finish what is queued (within the grace), stop."""
        self._accepting = False
        timeout = self._settings.shutdown_grace_seconds
        try:
            await asyncio.wait_for(self._queue.join(), timeout)
        except TimeoutError:
            left = self._queue.qsize() + self._in_flight
            log.error("drain deadline of %.0fs passed; abandoning %d jobs", timeout, left)
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []

    def offer(self, event: WorkflowJobEvent, *, received_at: float) -> Ignore | Admitted:
        """Decide, and queue the runner the decision asks for."""
        self._on_repo(event.repo_full_name)
        decision = decide(event, self.policy)
        if isinstance(decision, Ignore):
            return decision
        return Admitted(decision, self.submit(event, decision, received_at=received_at))

    def submit(
        self, event: WorkflowJobEvent, start: StartRunner, *, received_at: float
    ) -> Admission:
        """Queue a decided runner unless it repeats one in hand; FULL when it cannot be taken."""
        if event.origin in self._recent:
            self._recent.add(event.origin)
            return Admission.DUPLICATE
        # The same runner from another hook, a redelivery or the reconciler: one try at a time,
        # none once it reached Nomad here (other replicas meet Nomad's idempotency token).
        name = start.runner_name
        if name in self._pending or name in self._dispatched:
            return Admission.DUPLICATE
        if not self._accepting:
            return Admission.FULL
        pending = PendingStart(event, start, received_at)
        try:
            self._queue.put_nowait(pending)
        except asyncio.QueueFull:
            return Admission.FULL
        self._pending[name] = pending
        self._recent.add(event.origin)
        return Admission.QUEUED

    async def join(self) -> None:
        """Wait until every runner queued so far has been carried out."""
        await self._queue.join()

    def in_flight(self) -> list[PendingStart]:
        """Runners queued or being dispatched here, one per name: capacity not yet listed."""
        return list(self._pending.values())

    @property
    def capacity(self) -> int:
        """How many runners the queue holds at most."""
        return self._settings.queue_size

    @property
    def depth(self) -> int:
        """Runners waiting for a worker."""
        return self._queue.qsize()

    async def _work(self) -> None:
        while True:
            pending = await self._queue.get()
            self._in_flight += 1
            try:
                outcome = await self._carry_out(pending)
            except Exception:  # a bug must not kill the worker; the job is reported and dropped
                log.exception("runner %s: unexpected error", pending.start.runner_name)
                outcome = Outcome.ERROR
            finally:
                self._in_flight -= 1
                self._pending.pop(pending.start.runner_name, None)
                self._queue.task_done()
            self._metrics.dispatches.labels(outcome=outcome.value).inc()
            if outcome in (Outcome.DISPATCHED, Outcome.EXISTING):
                self._dispatched.add(pending.start.runner_name)
            if outcome in (Outcome.FAILED, Outcome.ERROR):
                self._recent.discard(pending.event.origin)  # so a repeat of it is not dropped

    async def _carry_out(self, pending: PendingStart) -> Outcome:
        """Credential, contract, dispatch."""
        event, start = pending.event, pending.start
        where = f"runner {start.runner_name} job {event.job_id} repo {event.repo_full_name}"
        credential: RunnerCredential | None = None
        retry = self._retrier.run
        try:
            credential = await retry(where, lambda: self._credentials.obtain(event, start))
            if credential is None:
                log.info("%s: made by another try (generate-jitconfig 409)", where)
                return Outcome.RUNNER_EXISTS
            request = build_dispatch(event, start, credential)
            result = await retry(where, lambda: self._nomad.dispatch(request))
        except (NomadRejected, ContractError) as error:
            log.error("%s: REJECTED, not retried: %s", where, error)
            return Outcome.REJECTED
        except UpstreamError as error:
            log.error("%s: FAILED, gave up: %s", where, error)
            self._credentials.abandoned(start, credential)
            return Outcome.FAILED
        self._metrics.to_dispatch_seconds.observe(self.monotonic() - pending.received_at)
        if result.existing:
            log.info("%s: Nomad already has %s", where, result.dispatched_job_id)
            await self._credentials.unused(event, credential)
            return Outcome.EXISTING
        log.info("%s: dispatched %s eval %s", where, result.dispatched_job_id, result.eval_id)
        return Outcome.DISPATCHED
