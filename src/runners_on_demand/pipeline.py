"""The pipeline every intake feeds: decide, then (behind a bounded queue) credential and dispatch.

    intake --WorkflowJobEvent--> offer(): decide -> Ignore, or StartRunner queued
    worker: contract (build_dispatch) -> credential (RunnerCredentials) -> its Nomad Variable
            -> dispatch (NomadPort)

An intake (the webhook edge, the reconciler, the scale-set listener) hands events to `offer`,
or, when it has decided itself (the reconciler's retries), a `StartRunner` to `submit`; nothing
here knows which intake it was. Every upstream call retries with backoff while the error is
retryable; a Nomad validation error or a contract breach is logged loudly and dropped. While
GitHub's rate limit is spent, runners are held, in the order they came, until its reset
(line.py). Duplicates are stopped by recent event origins and by runner names queued or already
dispatched here, and across replicas by Nomad's idempotency token and GitHub's unique runner name.

A job that ends before any runner took it (cancelled while queued: `completed` with no runner)
needs no runner any more: one still waiting in line for its scope (repository, or organization
for an org-group pool) and labels, its own first, is withdrawn; else its own runner, if
dispatched here and not busy, is removed and its child stopped. A later `queued` copy of an
ended job starts nothing. A runner made for a job may run another of the same labels (job
stealing), so any runner of the label set will do.

Theory of the credential (issue 10, items 1 and 3). The runner's credential is stored in the
Nomad Variable `nomad/jobs/<runner job>/credentials/<runner name>` before the dispatch, and the
dispatch carries none; the child's template reads the Variable when its task is about to start.
The runner name is unique on GitHub (generate-jitconfig answers 409 for a second one) and is
also the idempotency token, so for one name there is at most one runner, at most one child, and
one Variable, which always holds the credential of the runner that exists (a fresh JIT config
means any older runner of that name is gone, so overwriting its Variable takes nothing from
anyone). Hence:

- Nomad answering "already dispatched" (a try that timed out after Nomad committed it, another
  replica, a restart) never leads to deleting the runner: the existing child renders the
  Variable, and so runs the runner we just made or stored, however the answers interleaved. A
  retry that made a new JIT runner has overwritten the Variable before its dispatch, so an
  existing child that has not rendered yet gets the new credential, whose runner is kept; one
  that rendered already holds the older credential, whose runner is gone for good, and fails
  fast (the reconciler then replaces it). Deleting here would only ever break a child.
- A runner that exists when a try starts (generate-jitconfig's 409) is dispatched again when
  its Variable exists: an earlier try (this process before a timeout, a replica, a process that
  was killed) stored its credential, so the child starts that very runner, and the idempotency
  token keeps it to one child. Without a Variable, no child can ever hold its credential: only
  if this process made it and gave up before storing it (`RunnerCredentials.remake`) is it
  removed and made again; otherwise a live try owns it, or a dead one, which the reconciler
  retires after the idle grace.
- The Variable is destroyed once it is used (GitHub lists the runner online or busy, or its JIT
  runner is gone) or can no longer be (the child is dead, or no child came in time): by the
  reconciler for `rod serve`'s runners (reconcile/stored.py), by the listener's sweep for its own
  (listen/fleet.py). With the reconciler off, `rod serve`'s stay until it runs again.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TypeVar

from runners_on_demand.backoff import Retrier
from runners_on_demand.bounded import BoundedDict, BoundedSet
from runners_on_demand.config import ServerSettings
from runners_on_demand.contract import (
    RunnerCredential,
    build_dispatch,
    credential_items,
    credential_path,
)
from runners_on_demand.credentials import RunnerCredentials
from runners_on_demand.decision import Ignore, Policy, StartRunner, decide, runner_scope
from runners_on_demand.errors import (
    ContractError,
    GitHubRateLimited,
    NomadError,
    NomadRejected,
    UpstreamError,
)
from runners_on_demand.events import Origin, WorkflowJobEvent
from runners_on_demand.line import Line, PendingStart
from runners_on_demand.metrics import Metrics
from runners_on_demand.ports import NomadPort, VariableConflict

__all__ = ["Admission", "Admitted", "Outcome", "PendingStart", "Pipeline"]

log = logging.getLogger(__name__)
T = TypeVar("T")


class Admission(enum.Enum):
    """What the queue did with a runner to start."""

    QUEUED = "queued"
    DUPLICATE = "duplicate"  # this origin, or this runner name, is already queued or done
    ENDED = "ended"  # its job ended before any runner took it: a late copy
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
    WITHDRAWN = "withdrawn"  # its job ended before a worker took it
    REJECTED = "rejected"  # Nomad refused it as invalid, or the contract would break
    FAILED = "failed"  # upstreams kept failing until the backoff gave up
    ERROR = "error"  # a bug; logged with its traceback


JobKey = tuple[str, int, int]  # (lower-case repository, job id, run attempt)


class Pipeline:
    """A bounded line and a pool of workers turning decided events into Nomad dispatches."""

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
        self._line = Line(
            settings.queue_size, sleep=self._retrier.sleep, monotonic=self._retrier.monotonic
        )
        self._recent: BoundedSet[Origin] = BoundedSet(settings.dedup_size)
        # Runners this process saw reach Nomad, with their child: a late copy would make a JIT
        # runner only to meet the idempotency token; a job that ends frees its child.
        self._dispatched: BoundedDict[str, str] = BoundedDict(settings.dedup_size)
        self._ended: BoundedSet[JobKey] = BoundedSet(settings.dedup_size)
        self._workers: list[asyncio.Task[None]] = []
        self._removals: set[asyncio.Task[None]] = set()
        self._accepting = False
        metrics.track_queue(lambda: self._line.depth)
        metrics.track_held(lambda: self._line.held)

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
            await asyncio.wait_for(self._line.join(), timeout)
        except TimeoutError:
            left = len(self._line.pending)
            log.error("drain deadline of %.0fs passed; abandoning %d jobs", timeout, left)
        tasks = [*self._workers, *self._removals]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, self._line.close(), return_exceptions=True)
        self._workers = []

    def offer(self, event: WorkflowJobEvent, *, received_at: float) -> Ignore | Admitted:
        """Decide, and queue the runner the decision asks for."""
        self._on_repo(event.repo_full_name)
        if event.action == "completed" and event.runner_id is None:
            self._job_ended(event)
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
        if _job(event) in self._ended:
            return Admission.ENDED
        # The same runner from another hook, a redelivery or the reconciler: one try at a time,
        # none once it reached Nomad here (other replicas meet Nomad's idempotency token).
        name = start.runner_name
        if name in self._line.pending or name in self._dispatched:
            return Admission.DUPLICATE
        if not self._accepting or not self._line.put(PendingStart(event, start, received_at)):
            return Admission.FULL
        self._recent.add(event.origin)
        return Admission.QUEUED

    async def join(self) -> None:
        """Wait until every runner queued so far has been carried out (held ones too)."""
        await self._line.join()

    def in_flight(self) -> list[PendingStart]:
        """Runners queued or being dispatched here, one per name: capacity not yet listed."""
        return list(self._line.pending.values())

    @property
    def capacity(self) -> int:
        """How many runners the queue holds at most."""
        return self._line.size

    @property
    def depth(self) -> int:
        """Runners waiting for a worker."""
        return self._line.depth

    def _job_ended(self, event: WorkflowJobEvent) -> None:
        """A job ended with no runner: withdraw a waiting runner of its labels, or its own."""
        decision = decide(replace(event, action="queued"), self.policy)
        if not isinstance(decision, StartRunner) or _job(event) in self._ended:
            return  # a copy of the news (GitHub may send it twice) withdraws nothing more
        self._ended.add(_job(event))
        labels = frozenset(label.lower() for label in event.labels)
        # Where its runner registers: the repository, or the organization of an org-group pool,
        # whose runners any of its repositories' jobs may take.
        scope = runner_scope(decision.pool, event.repo_full_name).key

        def same_labels(waiting: PendingStart) -> bool:
            ours = frozenset(label.lower() for label in waiting.event.labels)
            where = runner_scope(waiting.start.pool, waiting.event.repo_full_name).key
            return where == scope and ours == labels

        withdrawn = self._line.withdraw(decision.runner_name, or_else=same_labels)
        where = f"job {event.job_id} repo {event.repo_full_name} ended with no runner"
        if withdrawn is not None:
            log.info("%s: withdrew %s", where, withdrawn.start.runner_name)
            self._metrics.dispatches.labels(outcome=Outcome.WITHDRAWN.value).inc()
            return
        child = self._dispatched.get(decision.runner_name)
        if child is not None:
            task = asyncio.create_task(self._remove(where, event, decision, child))
            self._removals.add(task)
            task.add_done_callback(self._removals.discard)

    async def _remove(
        self, where: str, event: WorkflowJobEvent, start: StartRunner, child: str
    ) -> None:
        """Remove the ended job's own runner unless it runs a job, then stop its child."""
        try:
            if await self._call(where, lambda: self._credentials.discard(event, start)):
                await self._call(where, lambda: self._nomad.stop_job(child))
                log.info("%s: removed %s and stopped %s", where, start.runner_name, child)
        except UpstreamError as error:  # the reconciler retires what is left
            log.warning("%s: could not remove %s: %s", where, start.runner_name, error)

    async def _work(self) -> None:
        while True:
            pending = await self._line.get()
            try:
                outcome = await self._carry_out(pending)
            except GitHubRateLimited as limited:  # not carried out: held, still pending
                self._hold(pending, limited)
                continue
            except Exception:  # a bug must not kill the worker; the job is reported and dropped
                log.exception("runner %s: unexpected error", pending.start.runner_name)
                outcome = Outcome.ERROR
            self._line.done(pending)
            self._metrics.dispatches.labels(outcome=outcome.value).inc()
            if outcome in (Outcome.FAILED, Outcome.ERROR):
                self._recent.discard(pending.event.origin)  # so a repeat of it is not dropped

    def _hold(self, pending: PendingStart, limited: GitHubRateLimited) -> None:
        """Keep a runner aside until GitHub's rate limit resets; it keeps its place in line."""
        if not self._line.held:
            log.warning("holding runners until GitHub's rate limit resets: %s", limited)
        name = pending.start.runner_name
        log.debug("runner %s: held for %.0fs", name, limited.retry_after)
        self._line.hold(pending, limited.retry_after)

    async def _call(self, where: str, call: Callable[[], Awaitable[T]]) -> T:
        """An upstream call with retries; a spent rate limit is not waited out here but held."""
        return await self._retrier.run(where, call, passes=(GitHubRateLimited,))

    async def _carry_out(self, pending: PendingStart) -> Outcome:
        """Contract, credential, its Variable, dispatch (see the module docstring)."""
        event, start = pending.event, pending.start
        where = f"runner {start.runner_name} job {event.job_id} repo {event.repo_full_name}"
        credential: RunnerCredential | None = None
        stored = False
        try:
            request = build_dispatch(event, start)  # before any call: nothing left behind
            path = credential_path(start)
            credential = await self._call(where, lambda: self._credentials.obtain(event, start))
            if credential is None and not await self._call(where, lambda: self._stored(path)):
                credential = await self._call(where, lambda: self._credentials.remake(event, start))
                if credential is None:
                    log.info("%s: made by another try (generate-jitconfig 409)", where)
                    return Outcome.RUNNER_EXISTS
            if credential is not None:
                made = credential
                await self._call(where, lambda: self._store(path, made))
                stored = True
            result = await self._call(where, lambda: self._nomad.dispatch(request))
        except (NomadRejected, ContractError) as error:
            log.error("%s: REJECTED, not retried: %s", where, error)
            return Outcome.REJECTED
        except GitHubRateLimited:
            raise
        except UpstreamError as error:
            log.error("%s: FAILED, gave up: %s", where, error)
            if not stored:
                self._credentials.abandoned(start, credential)
            return Outcome.FAILED
        self._metrics.to_dispatch_seconds.observe(self.monotonic() - pending.received_at)
        self._dispatched[start.runner_name] = result.dispatched_job_id
        if result.existing:
            # Never delete the runner here: the existing child reads the Variable (docstring).
            log.info("%s: Nomad already has %s", where, result.dispatched_job_id)
            return Outcome.EXISTING
        log.info("%s: dispatched %s eval %s", where, result.dispatched_job_id, result.eval_id)
        return Outcome.DISPATCHED

    async def _stored(self, path: str) -> bool:
        """Whether a Variable at `path` exists (listed: the dispatcher may not read it)."""
        return any(found.path == path for found in await self._nomad.list_variables(path))

    async def _store(self, path: str, credential: RunnerCredential) -> None:
        """Create the credential's Variable, or replace the one an earlier try left."""
        items = credential_items(credential)
        written = await self._nomad.put_variable(path, items, cas=0)
        if isinstance(written, VariableConflict):
            # Its runner is gone (see the module docstring): the fresh credential replaces it.
            log.info("%s: replacing the credential an earlier try stored", path)
            index = written.current.modify_index
            if isinstance(await self._nomad.put_variable(path, items, cas=index), VariableConflict):
                raise NomadError(f"Nomad PUT /v1/var/{path}: changed meanwhile", status=409)


def _job(event: WorkflowJobEvent) -> JobKey:
    """The job an event is about, as `_ended` remembers it."""
    return (event.repo_full_name.lower(), event.job_id, event.run_attempt)
