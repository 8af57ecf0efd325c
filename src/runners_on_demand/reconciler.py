"""The reconciler's I/O: observe Nomad and GitHub, `reconcile.plan`, carry the actions out.

It runs inside `rod serve` every `[reconcile] interval_seconds` and once in `rod reconcile --once`.
A tick reads the Nomad children first (a JIT runner is made before its child, so every child seen
has its runner in the later runner list), then, per repository, the queued jobs, the runners,
and the queued jobs again (see `reconcile.Observation.earlier_jobs`).
A repository GitHub would not list is left out of the plan; if Nomad cannot be read, the tick
does nothing. Dispatches go through the webhook path's own queue (`service.Dispatcher`), with its
retries; retiring removes the GitHub runner first and stops the Nomad child only if that worked.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from prometheus_client import Counter, Gauge

from runners_on_demand import reconcile
from runners_on_demand.delivery import is_valid_full_name
from runners_on_demand.errors import GitHubRateLimited, UpstreamError
from runners_on_demand.metrics import Metrics
from runners_on_demand.ports.github import GitHubRunners
from runners_on_demand.ports.nomad import NomadJobs
from runners_on_demand.reconcile import (
    MANAGED_BY,
    MANAGED_BY_KEY,
    Action,
    Child,
    DispatchRunner,
    InFlight,
    Observation,
    Plan,
    QueuedJob,
    ReconcilePolicy,
    Retire,
    Runner,
)
from runners_on_demand.service import Dispatcher, Job, Submitted

__all__ = ["Outcome", "Reconciler", "Report"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """What became of one planned action."""

    action: Action
    result: str  # removed, stopped, busy, submitted, duplicate, deferred, failed: ...


@dataclass(frozen=True)
class Report:
    """One tick: what was seen, planned and done; `problems` lists what could not be read."""

    observation: Observation | None
    plan: Plan | None
    outcomes: tuple[Outcome, ...] = ()
    problems: tuple[str, ...] = ()
    retry_after: float = 0.0  # GitHub's rate limit asked for this long a pause


@dataclass
class _Metrics:
    """The reconciler's Prometheus series, in the dispatcher's registry."""

    ticks: Counter
    actions: Counter
    last_success: Gauge

    @classmethod
    def register(cls, metrics: Metrics) -> _Metrics:
        """Create the series in `metrics.registry`."""
        registry = metrics.registry
        return cls(
            Counter(
                "rod_reconcile_runs",
                "Reconciler ticks, by outcome.",
                ["outcome"],
                registry=registry,
            ),
            Counter(
                "rod_reconcile_actions",
                "Reconciler actions, by kind and result.",
                ["action", "result"],
                registry=registry,
            ),
            Gauge(
                "rod_reconcile_last_success_timestamp_seconds",
                "When a reconciler tick last read everything it needed.",
                registry=registry,
            ),
        )


@dataclass
class _Seen:
    """When this process first saw each runner name (a childless runner's only age)."""

    first: dict[str, tuple[str, float]] = field(default_factory=dict)  # name -> (repo, time)

    def update(self, runners: Iterable[Runner], repos: set[str], now: float) -> dict[str, float]:
        """Remember new names, forget names gone from the repositories read this time."""
        kept = {n: seen for n, seen in self.first.items() if seen[0] not in repos}
        for runner in runners:
            kept[runner.name] = self.first.get(runner.name, (runner.repo.lower(), now))
        self.first = kept
        return {name: seen[1] for name, seen in kept.items()}


class Reconciler:
    """Brings runners in line with GitHub's queued jobs, one tick at a time."""

    def __init__(
        self,
        github: GitHubRunners,
        nomad: NomadJobs,
        dispatcher: Dispatcher,
        *,
        policy: ReconcilePolicy,
        repos: Iterable[str] = (),
        metrics: Metrics | None = None,
        submit_limit: int = 500,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._github = github
        self._nomad = nomad
        self._dispatcher = dispatcher
        self._policy = policy
        self._configured = {repo.lower(): repo for repo in repos}
        self._webhook_repos: dict[str, str] = {}
        self._seen = _Seen()
        self._metrics = _Metrics.register(metrics) if metrics else None
        self._submit_limit = submit_limit
        self._clock = clock
        self._sleep = sleep

    def saw(self, full_name: str) -> None:
        """A verified webhook came from this repository: serve it from now on."""
        if is_valid_full_name(full_name):
            self._webhook_repos.setdefault(full_name.lower(), full_name)

    def plan(self, observation: Observation) -> Plan:
        """The plan for this observation, under this reconciler's policy."""
        return reconcile.plan(observation, self._policy)

    async def run(self, interval: float) -> None:
        """Tick every `interval` seconds until cancelled; longer when GitHub asks to wait.

        The first tick comes one interval after the start: webhooks serve a fresh start, and
        replicas restarted together do not all list GitHub at once.
        """
        pause = interval
        while True:
            await self._sleep(pause)
            try:
                report = await self.tick()
                pause = max(interval, report.retry_after)
            except Exception:  # a bug must not stop the loop; the next tick starts afresh
                log.exception("reconcile: unexpected error")
                pause = interval

    async def tick(self) -> Report:
        """Observe, plan, act once."""
        observation, problems, retry_after = await self.observe()
        if observation is None:
            self._count_tick("failed")
            log.warning("reconcile: skipped, %s", "; ".join(problems))
            return Report(None, None, problems=tuple(problems), retry_after=retry_after)
        result = self.plan(observation)
        outcomes = [await self._retire(a) for a in result.actions if isinstance(a, Retire)]
        outcomes += [self._submit(a) for a in result.actions if isinstance(a, DispatchRunner)]
        for outcome in outcomes:
            kind = "retire" if isinstance(outcome.action, Retire) else "dispatch"
            # A dispatch the service already has in hand is routine during a burst: keep it quiet.
            level = logging.DEBUG if outcome.result == Submitted.DUPLICATE.value else logging.INFO
            log.log(
                level,
                "reconcile: %s %s (%s): %s",
                kind,
                _name(outcome.action),
                outcome.action.reason,
                outcome.result,
            )
            if self._metrics:
                self._metrics.actions.labels(kind, outcome.result.split(":")[0]).inc()
        for job in result.gave_up:
            log.error(
                "reconcile: %s is still queued after %d retries; giving up",
                job,
                self._policy.max_retries,
            )
        self._count_tick("partial" if problems else "ok")
        if not problems and self._metrics:
            self._metrics.last_success.set(observation.now)
        return Report(observation, result, tuple(outcomes), tuple(problems), retry_after)

    async def observe(self) -> tuple[Observation | None, list[str], float]:
        """What Nomad and GitHub show now; None when Nomad cannot be read."""
        now = self._clock()
        # Runners queued for dispatch when the reads begin and when they end: one carried out
        # meanwhile may be in neither listing, and must not look like missing capacity.
        in_flight = self._in_flight()
        problems: list[str] = []
        children: list[Child] = []
        for parent in sorted({pool.nomad_job for pool in self._policy.decision.pools}):
            try:
                children += await self._nomad.list_children(parent)
            except UpstreamError as error:
                return None, [f"Nomad: {error}"], 0.0
        repos = self._repos(children)
        observed: set[str] = set()
        earlier_jobs: list[QueuedJob] = []
        jobs: list[QueuedJob] = []
        runners: list[Runner] = []
        retry_after = 0.0
        for key, full_name in sorted(repos.items()):
            owner, _, name = full_name.partition("/")
            try:
                # Jobs both before and after the runners: see `Observation.earlier_jobs`.
                repo_earlier_jobs = await self._github.list_queued_jobs(owner, name)
                repo_runners = await self._github.list_runners(owner, name)
                repo_jobs = await self._github.list_queued_jobs(owner, name)
            except GitHubRateLimited as error:
                retry_after = error.retry_after
                problems.append(f"{full_name} and later repositories: {error}")
                break  # don't hammer: the rest waits for the next tick
            except UpstreamError as error:
                problems.append(f"{full_name}: {error}")
                continue
            observed.add(key)
            earlier_jobs += repo_earlier_jobs
            jobs += repo_jobs
            runners += repo_runners
        first_seen = self._seen.update(runners, observed, now)
        observation = Observation(
            now=now,
            repos=frozenset(observed),
            jobs=tuple(jobs),
            children=tuple(children),
            runners=tuple(runners),
            first_seen=first_seen,
            earlier_jobs=tuple(earlier_jobs),
            in_flight=tuple({**in_flight, **self._in_flight()}.values()),
        )
        return observation, problems, retry_after

    def _in_flight(self) -> dict[str, InFlight]:
        """The runners the dispatcher has queued or is dispatching now, by name."""
        return {
            job.dispatch.runner_name: InFlight(
                job.event.repo_full_name, job.dispatch.runner_name, job.dispatch.labels
            )
            for job in self._dispatcher.in_flight()
        }

    def _repos(self, children: Iterable[Child]) -> dict[str, str]:
        """Configured repositories, those webhooks came from, and those our children serve."""
        repos = {**self._configured, **self._webhook_repos}
        for child in children:
            full_name = child.meta.get("REPO_FULL_NAME", "")
            if child.meta.get(MANAGED_BY_KEY) == MANAGED_BY and is_valid_full_name(full_name):
                repos.setdefault(full_name.lower(), full_name)
        owners_ok = self._policy.decision.allows
        return {k: v for k, v in repos.items() if owners_ok(v.partition("/")[0], v)}

    async def _retire(self, action: Retire) -> Outcome:
        """Remove the runner (busy: leave everything), then stop the child."""
        owner, _, repo = action.repo.partition("/")
        try:
            runner_id = action.runner_id
            if runner_id is None and action.child_id is not None:
                # The list did not show a runner: ask again by name before stopping the child.
                found = await self._github.find_runner(owner, repo, action.runner_name)
                if found is not None and found.busy:
                    return Outcome(action, "busy")
                runner_id = found.id if found else None
            done = []
            if runner_id is not None:
                removed = await self._github.delete_runner(owner, repo, runner_id)
                if removed == "busy":  # 422: it took a job meanwhile; its child runs that job
                    return Outcome(action, "busy")
                done.append(f"runner {removed}")
            if action.child_id is not None:
                await self._nomad.stop_job(action.child_id)
                done.append("child stopped")
        except UpstreamError as error:
            return Outcome(action, f"failed: {error}")
        return Outcome(action, ", ".join(done) or "nothing left")

    def _submit(self, action: DispatchRunner) -> Outcome:
        """Queue the dispatch behind the webhook path's own, leaving it room."""
        if self._dispatcher.depth >= self._submit_limit:
            return Outcome(action, "deferred: dispatch queue busy")
        job = Job(action.event, action.dispatch, received_at=self._dispatcher.monotonic())
        submitted = self._dispatcher.submit(job)
        if submitted is Submitted.FULL:
            return Outcome(action, "deferred: dispatch queue full")
        return Outcome(action, submitted.value)

    def _count_tick(self, outcome: str) -> None:
        """Count one tick: ok, partial (some repositories unread) or failed (Nomad unread)."""
        if self._metrics:
            self._metrics.ticks.labels(outcome).inc()


def _name(action: Action) -> str:
    """The runner name an action is about."""
    return action.dispatch.runner_name if isinstance(action, DispatchRunner) else action.runner_name
