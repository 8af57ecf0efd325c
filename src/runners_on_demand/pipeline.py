"""The pipeline every intake feeds: decide, then (behind a bounded queue) credential and dispatch.

    intake --WorkflowJobEvent--> offer(): decide -> Ignore, or StartRunner queued
    worker: Carrier.carry_out: contract -> credential -> its Nomad Variable -> dispatch

An intake (the webhook edge, the reconciler, the scale-set listener) hands events to `offer`,
or, when it has decided itself (the reconciler's retries), a `StartRunner` to `submit`; nothing
here knows which intake it was. While GitHub's rate limit is spent, runners are held, in the
order they came, until its reset (line.py); while a pool's runner job cannot be dispatched,
its runners are parked until it can (runner_job_hold.py). Duplicates are stopped by recent
event origins and by runner names queued or already dispatched here, and across replicas by
Nomad's idempotency token and GitHub's unique runner name.

A job that ends before any runner took it (cancelled while queued: `completed` with no runner)
needs no runner any more: one still waiting in line for its scope (repository, or organization
for an org-group pool) and labels, its own first, is withdrawn; else its own runner, if
dispatched here and not busy, is removed and its child stopped (one a worker is carrying out
then, once it reaches Nomad). A later `queued` copy of an ended job starts nothing. A runner
made for a job may run another of the same labels (job stealing), so any runner of the label
set will do; but only for a job whose runner was queued here (its `completed` may come first).

The credential and the dispatch themselves, and why they cannot make two runners for one
name, are carrier.py's (a `Carrier`: on this loop, or in a process of its own). A worker whose
runner waits out a retry's backoff (`backoff.backing_off`) is replaced by a new worker at once
and ends with that runner, so a failure confined to one repository delays no other's.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from runners_on_demand.backoff import Retrier, backing_off
from runners_on_demand.bounded import BoundedDict, BoundedSet
from runners_on_demand.carrier import Carrier, Outcome
from runners_on_demand.config import ServerSettings
from runners_on_demand.decision import Ignore, Policy, StartRunner, decide, runner_scope
from runners_on_demand.errors import DispatchProcessFailed, GitHubRateLimited, RunnerJobMissing
from runners_on_demand.events import Origin, WorkflowJobEvent
from runners_on_demand.line import Line, PendingStart
from runners_on_demand.metrics import Metrics
from runners_on_demand.runner_job_hold import JobCheck, RunnerJobHold

__all__ = ["Admission", "Admitted", "PendingStart", "Pipeline"]

log = logging.getLogger(__name__)


class Admission(enum.Enum):
    """What the queue did with a runner to start."""

    QUEUED = "queued"
    DUPLICATE = "duplicate"  # this origin, or this runner name, is already queued or done
    ENDED = "ended"  # its job ended before any runner took it: a late copy
    FULL = "full"  # the queue is full or draining: the intake should offer it again later


@dataclass(frozen=True, slots=True)
class Admitted:
    """A runner to start, and what the queue did with it."""

    start: StartRunner
    admission: Admission


JobKey = tuple[str, int, int]  # (lower-case repository, job id, run attempt)


class Pipeline:
    """A bounded line and a pool of workers turning decided events into Nomad dispatches."""

    def __init__(
        self,
        carrier: Carrier,
        *,
        policy: Policy,
        settings: ServerSettings,
        metrics: Metrics,
        retrier: Retrier | None = None,
        on_repo: Callable[[str], None] = lambda full_name: None,
        check_job: JobCheck | None = None,
    ) -> None:
        self._carrier = carrier
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
        # Jobs a runner was queued for here: only their end may withdraw another job's runner.
        self._counted: BoundedSet[JobKey] = BoundedSet(settings.dedup_size)
        # Runners a worker was carrying out when their job ended: removed once they reach Nomad.
        self._unwanted: dict[str, WorkflowJobEvent] = {}
        # Without `check_job` (Nomad's own answer about a runner job), a dispatch Nomad refuses
        # for its runner job is REJECTED like any other.
        self._holds = (
            RunnerJobHold(
                self._line,
                check_job,
                interval=settings.runner_job_recheck_seconds,
                sleep=self._retrier.sleep,
            )
            if check_job
            else None
        )
        self._workers: set[asyncio.Task[None]] = set()
        self._removals: set[asyncio.Task[None]] = set()
        self._accepting = False
        # Told how each runner was carried out, by name (`rod reconcile --once` prints it).
        self.on_outcome: Callable[[str, Outcome], None] = lambda name, outcome: None
        metrics.track_queue(lambda: self._line.depth)
        metrics.track_held(lambda: self._line.held)
        metrics.track_runner_job_holds(self.held_for_runner_jobs)

    @property
    def monotonic(self) -> Callable[[], float]:
        """The clock `received_at` is read on."""
        return self._retrier.monotonic

    def start(self) -> None:
        """Start the workers (inside the running event loop)."""
        self._accepting = True
        for _ in range(self._settings.workers):
            self._add_worker()

    async def check_runner_jobs(self, job_ids: Sequence[str], timeout: float) -> None:
        """Ask Nomad about each runner job, `timeout` seconds at most; hold the runners of those
        it cannot dispatch from (nothing without `check_job`)."""
        if self._holds is None:
            return
        try:
            await asyncio.wait_for(self._holds.check_at_start(job_ids), timeout)
        except TimeoutError:  # not known: a refused dispatch will tell
            log.warning("runner jobs: Nomad did not answer within %.0fs", timeout)

    async def stop(self) -> None:
        """Refuse new work; within the grace, finish what is queued, then the removals begun."""
        self._accepting = False
        timeout = self._settings.shutdown_grace_seconds
        try:
            async with asyncio.timeout(timeout):
                await self._line.join()
                if self._removals:
                    await asyncio.wait(self._removals)
        except TimeoutError:
            log.error(
                "drain deadline of %.0fs passed; abandoning %d jobs and %d runner removals",
                timeout,
                len(self._line.pending),
                len(self._removals),
            )
        tasks = [*self._workers, *self._removals]
        for task in tasks:
            task.cancel()
        closing = [self._line.close(), *([self._holds.close()] if self._holds else [])]
        await asyncio.gather(*tasks, *closing, return_exceptions=True)
        self._workers.clear()

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
        self._counted.add(_job(event))
        return Admission.QUEUED

    async def join(self) -> None:
        """Wait until every runner queued so far has been carried out (held ones too)."""
        await self._line.join()

    def in_flight(self) -> list[PendingStart]:
        """Runners queued or being dispatched here, one per name: capacity not yet listed."""
        return list(self._line.pending.values())

    def held_for_runner_jobs(self) -> dict[str, int]:
        """Runners parked by runner job, for each runner job that cannot be dispatched."""
        return self._holds.held() if self._holds else {}

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

        # Another job's runner goes instead only if this job's was counted here: a `completed`
        # delivered before its `queued` (GitHub does not keep their order) took nothing from it.
        counted = _job(event) in self._counted

        def same_labels(waiting: PendingStart) -> bool:
            ours = frozenset(label.lower() for label in waiting.event.labels)
            where = runner_scope(waiting.start.pool, waiting.event.repo_full_name).key
            return counted and where == scope and ours == labels

        withdrawn = self._line.withdraw(decision.runner_name, or_else=same_labels)
        where = f"job {event.job_id} repo {event.repo_full_name} ended with no runner"
        if withdrawn is not None:
            log.info("%s: withdrew %s", where, withdrawn.start.runner_name)
            self._finished(withdrawn.start.runner_name, Outcome.WITHDRAWN)
            return
        child = self._dispatched.get(decision.runner_name)
        if child is not None:
            self._remove(event, decision, child)
        elif decision.runner_name in self._line.pending:  # a worker is carrying it out
            self._unwanted[decision.runner_name] = event

    def _remove(self, event: WorkflowJobEvent, start: StartRunner, child: str) -> None:
        """Remove an ended job's runner (unless it runs a job) and stop its child, meanwhile."""
        task = asyncio.create_task(self._carrier.remove(event, start, child))
        self._removals.add(task)
        task.add_done_callback(self._removals.discard)

    def _add_worker(self) -> None:
        worker = asyncio.create_task(self._work(), name="rod-worker")
        self._workers.add(worker)
        worker.add_done_callback(self._workers.discard)

    async def _work(self) -> None:
        """Carry out runners in turn until one of them waits out a retry's backoff: then a new
        worker takes this one's place, and this one ends with that runner. At most `workers`
        runners back off so at once: past that, as in a wide outage, a worker waits out its
        runner's backoff, so the upstream that comes back is not met by the whole line at once."""
        replaced = False

        def replace_me() -> None:
            nonlocal replaced
            if not replaced and len(self._workers) < 2 * self._settings.workers:
                replaced = True
                self._add_worker()

        backing_off.set(replace_me)  # this task's own: its retries (and the dispatch process's)
        while not replaced:
            await self._run(await self._line.get())

    async def _run(self, pending: PendingStart) -> None:
        """Carry out one runner and count its outcome (unless it is held or parked)."""
        holds, job = self._holds, pending.start.pool.nomad_job
        if holds is not None and holds.blocks(job):  # nothing made for a job Nomad refuses
            holds.park(pending, holds.problems[job])
            return
        try:
            outcome = await self._carry_out(pending)
        except GitHubRateLimited as limited:  # not carried out: held, still pending...
            if pending.start.runner_name not in self._unwanted:
                self._hold(pending, limited)
                return
            outcome = Outcome.WITHDRAWN  # ...unless its job ended meanwhile
        except RunnerJobMissing as missing:  # parked until its runner job can be dispatched
            if holds is None:
                log.error("runner %s: REJECTED: %s", pending.start.runner_name, missing)
                outcome = Outcome.REJECTED
            elif pending.start.runner_name in self._unwanted:
                outcome = Outcome.WITHDRAWN
            else:
                holds.park(pending, f"runner job {job}: {missing}")
                return
        except DispatchProcessFailed as error:  # its own log has the traceback, if any
            log.error("runner %s: %s", pending.start.runner_name, error)
            outcome = Outcome.ERROR
        except Exception:  # a bug must not kill the worker; the job is reported and dropped
            log.exception("runner %s: unexpected error", pending.start.runner_name)
            outcome = Outcome.ERROR
        self._line.done(pending)
        self._unwanted.pop(pending.start.runner_name, None)
        self._finished(pending.start.runner_name, outcome)
        if outcome in (Outcome.FAILED, Outcome.ERROR):
            self._recent.discard(pending.event.origin)  # so a repeat of it is not dropped

    def _finished(self, name: str, outcome: Outcome) -> None:
        """A runner carried out (or withdrawn): counted, and told to `on_outcome`."""
        self._metrics.dispatches.labels(outcome=outcome.value).inc()
        self.on_outcome(name, outcome)

    def _hold(self, pending: PendingStart, limited: GitHubRateLimited) -> None:
        """Keep a runner aside until GitHub's rate limit resets; it keeps its place in line."""
        if not self._line.held:
            log.warning("holding runners until GitHub's rate limit resets: %s", limited)
        name = pending.start.runner_name
        log.debug("runner %s: held for %.0fs", name, limited.retry_after)
        self._line.hold(pending, limited.retry_after)

    async def _carry_out(self, pending: PendingStart) -> Outcome:
        """The carrier's work; a runner that reached Nomad is remembered with its child."""
        carried = await self._carrier.carry_out(pending.event, pending.start)
        if carried.child is not None:
            self._metrics.to_dispatch_seconds.observe(self.monotonic() - pending.received_at)
            self._dispatched[pending.start.runner_name] = carried.child
            ended = self._unwanted.get(pending.start.runner_name)
            if ended is not None:
                self._remove(ended, pending.start, carried.child)
        return carried.outcome


def _job(event: WorkflowJobEvent) -> JobKey:
    """The job an event is about, as `_ended` remembers it."""
    return (event.repo_full_name.lower(), event.job_id, event.run_attempt)
