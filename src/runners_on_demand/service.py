"""The work behind a 202: a bounded queue of dispatches and the workers that carry them out.

Each job: a runner credential from GitHub, the Nomad dispatch contract, the Nomad dispatch. Every
call retries with exponential backoff and full jitter while the error is retryable (connection
errors, 5xx, rate limits honouring their wait); a Nomad validation error or a contract breach is
logged loudly and dropped. Duplicates are stopped here by recent (hook id, delivery id) pairs and
by runner names queued or already dispatched, and across replicas by Nomad's idempotency token and
GitHub's unique runner name.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from runners_on_demand.backoff import Backoff
from runners_on_demand.config import CredentialMode
from runners_on_demand.contract import (
    JitConfig,
    RunnerCredential,
    build_dispatch,
    jitconfig_request,
)
from runners_on_demand.decision import Dispatch
from runners_on_demand.delivery import WorkflowJobEvent
from runners_on_demand.errors import ContractError, GitHubRateLimited, NomadRejected, UpstreamError
from runners_on_demand.metrics import Metrics
from runners_on_demand.ports.github import GitHubRunners, RunnerExists
from runners_on_demand.ports.nomad import DispatchResult, NomadJobs

log = logging.getLogger(__name__)
T = TypeVar("T")


class Submitted(enum.Enum):
    """What `Dispatcher.submit` did with a job."""

    QUEUED = "queued"
    DUPLICATE = "duplicate"  # this (hook, delivery) pair is already queued or done
    FULL = "full"  # the queue is full or draining: the sender should redeliver later


@dataclass(frozen=True)
class Job:
    """A verified, decided delivery waiting for a worker."""

    event: WorkflowJobEvent
    dispatch: Dispatch
    received_at: float  # on the dispatcher's monotonic clock

    @property
    def key(self) -> tuple[str | None, str]:
        """The in-process duplicate key: GitHub reuses the delivery id across hooks."""
        return (self.event.hook_id, self.event.delivery_id)


class Dispatcher:
    """A bounded queue and a pool of workers turning jobs into Nomad dispatches."""

    def __init__(
        self,
        github: GitHubRunners,
        nomad: NomadJobs,
        *,
        metrics: Metrics,
        credential: CredentialMode = "jit",
        runner_group_id: int = 1,
        queue_size: int = 1000,
        workers: int = 4,
        backoff: Backoff | None = None,
        dedup_size: int = 10_000,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self._github = github
        self._nomad = nomad
        self._metrics = metrics
        self._credential_mode = credential
        self._runner_group_id = runner_group_id
        self._queue: asyncio.Queue[Job] = asyncio.Queue(maxsize=queue_size)
        self._worker_count = workers
        self._backoff = backoff or Backoff()
        self._recent: OrderedDict[tuple[str | None, str], None] = OrderedDict()
        # Runners this process made and then gave up dispatching: it alone holds their credential.
        self._abandoned: OrderedDict[str, None] = OrderedDict()
        # Runners this process saw reach Nomad: a late copy would make a JIT runner only to
        # meet the idempotency token and delete it again.
        self._dispatched: OrderedDict[str, None] = OrderedDict()
        self._dedup_size = dedup_size
        self._sleep = sleep
        self.monotonic = monotonic
        self._rng = rng or random.Random()
        self._workers: list[asyncio.Task[None]] = []
        self._accepting = False
        self._in_flight = 0
        self._pending: dict[str, Job] = {}
        metrics.track_queue(self._queue.qsize)

    def start(self) -> None:
        """Start the workers (inside the running event loop)."""
        self._accepting = True
        self._workers = [
            asyncio.create_task(self._work(), name=f"rod-worker-{n}")
            for n in range(self._worker_count)
        ]

    async def stop(self, timeout: float) -> None:
        """Refuse new jobs, let the workers finish what is queued for up to `timeout` s, stop."""
        self._accepting = False
        try:
            await asyncio.wait_for(self._queue.join(), timeout)
        except TimeoutError:
            left = self._queue.qsize() + self._in_flight
            log.error("drain deadline of %.0fs passed; abandoning %d jobs", timeout, left)
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []

    def submit(self, job: Job) -> Submitted:
        """Queue a job unless it is a recent duplicate; FULL when it cannot be taken now."""
        if job.key in self._recent:
            self._recent.move_to_end(job.key)
            return Submitted.DUPLICATE
        # The same runner from another hook, a redelivery or the reconciler: one try at a time,
        # none once it reached Nomad here (other replicas meet Nomad's idempotency token).
        name = job.dispatch.runner_name
        if name in self._pending or name in self._dispatched:
            return Submitted.DUPLICATE
        if not self._accepting:
            return Submitted.FULL
        try:
            self._queue.put_nowait(job)
        except asyncio.QueueFull:
            return Submitted.FULL
        self._pending[name] = job
        self._recent[job.key] = None
        while len(self._recent) > self._dedup_size:
            self._recent.popitem(last=False)
        return Submitted.QUEUED

    async def join(self) -> None:
        """Wait until every job queued so far has been carried out."""
        await self._queue.join()

    def in_flight(self) -> list[Job]:
        """Jobs queued or being dispatched here, one per runner name: capacity not yet listed."""
        return list(self._pending.values())

    @property
    def depth(self) -> int:
        """Jobs waiting for a worker."""
        return self._queue.qsize()

    async def _work(self) -> None:
        while True:
            job = await self._queue.get()
            self._in_flight += 1
            try:
                outcome = await self._carry_out(job)
            except Exception:  # a bug must not kill the worker; the job is reported and dropped
                log.exception("runner %s: unexpected error", job.dispatch.runner_name)
                outcome = "error"
            finally:
                self._in_flight -= 1
                self._pending.pop(job.dispatch.runner_name, None)
                self._queue.task_done()
            self._metrics.dispatches.labels(outcome=outcome).inc()
            if outcome in ("dispatched", "existing"):
                _remember(self._dispatched, job.dispatch.runner_name, self._dedup_size)
            if outcome in ("failed", "error"):
                self._recent.pop(job.key, None)  # so a redelivery of this job is not dropped

    async def _carry_out(self, job: Job) -> str:
        """Credential, contract, dispatch; the outcome label for `rod_dispatches_total`."""
        event, name = job.event, job.dispatch.runner_name
        where = f"runner {name} job {event.job_id} repo {event.repo_full_name}"
        credential: RunnerCredential | None = None
        try:
            credential = await self._retrying(where, lambda: self._credential(job))
            if credential is None:
                log.info("%s: made by another try (generate-jitconfig 409)", where)
                return "runner_exists"
            request = build_dispatch(event, job.dispatch, credential)
            result: DispatchResult = await self._retrying(
                where, lambda: self._nomad.dispatch(request)
            )
        except (NomadRejected, ContractError) as error:
            log.error("%s: REJECTED, not retried: %s", where, error)
            return "rejected"
        except UpstreamError as error:
            log.error("%s: FAILED, gave up: %s", where, error)
            if isinstance(credential, JitConfig):
                _remember(self._abandoned, name, self._dedup_size)
            return "failed"
        self._abandoned.pop(name, None)
        self._metrics.to_dispatch_seconds.observe(self.monotonic() - job.received_at)
        if result.existing:
            log.info("%s: Nomad already has %s", where, result.dispatched_job_id)
            await self._remove_unused(event, credential)
            return "existing"
        log.info("%s: dispatched %s eval %s", where, result.dispatched_job_id, result.eval_id)
        return "dispatched"

    async def _credential(self, job: Job) -> RunnerCredential | None:
        """The runner's credential; None when an earlier try already made and dispatched it."""
        event = job.event
        owner, repo = event.repo_owner, event.repo_name
        if self._credential_mode == "registration-token":
            return await self._github.create_registration_token(
                owner, repo, installation_id=event.installation_id
            )
        body = jitconfig_request(job.dispatch, self._runner_group_id)
        made = await self._github.generate_jitconfig(
            owner, repo, body, installation_id=event.installation_id
        )
        if not isinstance(made, RunnerExists):
            return made
        # 409: an earlier try made this runner. Only when that try was ours and gave up is the
        # runner unused for sure (no other process holds its credential): replace it, unless a
        # Nomad child carries it after all (a dispatch that timed out here but reached Nomad).
        # Otherwise a live try owns it (another replica, a concurrent delivery); if that owner
        # died, the reconciler replaces the runner after its boot timeout.
        if made.name not in self._abandoned:
            return None
        children = await self._nomad.list_children(job.dispatch.pool.nomad_job)
        if any(child.meta.get("RUNNER_NAME") == made.name for child in children):
            return None
        runner = await self._github.find_runner(owner, repo, made.name)
        if runner is not None and (
            runner.busy or await self._github.delete_runner(owner, repo, runner.id) == "busy"
        ):
            return None
        log.warning("runner %s: made earlier but never dispatched; making it again", made.name)
        made = await self._github.generate_jitconfig(
            owner, repo, body, installation_id=event.installation_id
        )
        return None if isinstance(made, RunnerExists) else made

    async def _remove_unused(self, event: WorkflowJobEvent, credential: RunnerCredential) -> None:
        """Delete the runner just made for a dispatch Nomad already had: no child will run it."""
        # Nomad answered with the existing child (same idempotency token), so the JIT runner made
        # for this try holds a credential nobody will use; left alone, the reconciler would
        # retire it later.
        if not isinstance(credential, JitConfig) or credential.runner_id is None:
            return
        try:
            await self._github.delete_runner(
                event.repo_owner, event.repo_name, credential.runner_id
            )
        except UpstreamError as error:
            log.warning(
                "runner %d: could not remove the unused runner: %s", credential.runner_id, error
            )

    async def _retrying(self, where: str, call: Callable[[], Awaitable[T]]) -> T:
        """`call()` until it succeeds, fails for good, or the backoff gives up."""
        started = self.monotonic()
        attempt = 0
        while True:
            attempt += 1
            try:
                return await call()
            except UpstreamError as error:
                if not error.retryable:
                    raise
                retry_after = error.retry_after if isinstance(error, GitHubRateLimited) else None
                wait = self._backoff.delay(
                    attempt,
                    elapsed=self.monotonic() - started,
                    retry_after=retry_after,
                    rng=self._rng,
                )
                if wait is None:
                    raise
                log.warning(
                    "%s: attempt %d failed (%s); retry in %.2fs", where, attempt, error, wait
                )
                await self._sleep(wait)


def _remember(names: OrderedDict[str, None], name: str, size: int) -> None:
    """Add `name` to a bounded, oldest-first record."""
    names[name] = None
    names.move_to_end(name)
    while len(names) > size:
        names.popitem(last=False)
