"""The reconciler's loop: observe Nomad and GitHub, `plan` (pure), carry the actions out (act.py).

It runs inside `rod serve` every `[reconcile] interval_seconds` and once in `rod reconcile --once`.
A tick refreshes the pools' org runner groups (org_groups.py), reads the Nomad children first
(a JIT runner is made before its child, so every child seen has its runner in the later runner
list), then the queued jobs of every served repository, the runners (of each repository when a
pool makes repository runners, of the organization when a pool has a runner group), and the
queued jobs again (see `plan.Observation.earlier_jobs`; reads.py), and last the runner credential
Variables, which date childless runners across restarts (`Observation.credentials`).
A repository GitHub would not list is left out of the plan, and so is its organization's scope;
one it answers 404 for (gone, renamed, or out of the token's sight) is forgotten until an intake
names it again, and logged once (repos.py). If Nomad cannot be read, the tick does nothing.
`preview` observes and plans only (`rod reconcile --dry-run`). The repositories heard of
outlive the process in a Nomad Variable (heard_variable.py), read at the start, written soon
after a new one and at ticks when the set changed.

A tick *succeeds* (`rod_reconcile_last_success_timestamp_seconds`) when it read Nomad and every
served scope that GitHub still knows: a forgotten 404 does not hold it back; a rate limit or an
error on any scope leaves it partial.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace

from prometheus_client import Counter, Gauge

from runners_on_demand.contract import credentials_prefix
from runners_on_demand.decision import runner_scope
from runners_on_demand.errors import UpstreamError
from runners_on_demand.metrics import Metrics
from runners_on_demand.observed import Child, Runner
from runners_on_demand.org_groups import refresh
from runners_on_demand.pipeline import Pipeline
from runners_on_demand.ports import GitHubPort, NomadPort, VariableMeta
from runners_on_demand.reconcile.act import ActionResult, Actor, Outcome
from runners_on_demand.reconcile.heard_variable import HeardVariable
from runners_on_demand.reconcile.plan import (
    InFlight,
    Observation,
    Plan,
    ReconcilePolicy,
    Retire,
    plan,
)
from runners_on_demand.reconcile.reads import GitHubReads
from runners_on_demand.reconcile.repos import ServedRepos

__all__ = [
    "ActionResult",
    "Outcome",
    "Reconciler",
    "Report",
    "ServedRepos",
]  # ActionResult, Outcome: act.py; ServedRepos: repos.py

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Report:
    """One tick: what was seen, planned and done; `problems` lists what could not be read."""

    observation: Observation | None
    plan: Plan | None
    outcomes: tuple[Outcome, ...] = ()
    problems: tuple[str, ...] = ()
    retry_after: float = 0.0  # GitHub's rate limit asked for this long a pause
    destroyed: tuple[str, ...] = ()  # runner names whose spent credential Variable is gone


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
                "When a reconciler tick last read Nomad and every repository GitHub still knows.",
                registry=registry,
            ),
        )


@dataclass
class _Seen:
    """When this process first saw each runner name (the age of one with no child nor Variable)."""

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
        github: GitHubPort,
        nomad: NomadPort,
        pipeline: Pipeline,
        *,
        policy: ReconcilePolicy,
        repos: ServedRepos | None = None,
        remembered: HeardVariable | None = None,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._github = github
        self._nomad = nomad
        self._pipeline = pipeline
        self.policy = policy
        self.repos = repos or ServedRepos(policy.settings.repos)
        self.remembered = remembered  # keeps `repos` heard of across restarts
        self._seen = _Seen()
        self._metrics = _Metrics.register(metrics) if metrics else None
        self._actor = Actor(github, nomad, pipeline)
        self._clock = clock
        self._sleep = sleep

    def plan(self, observation: Observation) -> Plan:
        """The plan for this observation, under this reconciler's policy."""
        return plan(observation, self.policy)

    async def run(self, interval: float) -> None:
        """Tick every `interval` seconds until cancelled; longer when GitHub asks to wait.

        The first tick comes one interval after the start: webhooks serve a fresh start, and
        replicas restarted together do not all list GitHub at once.
        """
        pause = interval
        remembered = self.remembered
        writer = asyncio.create_task(remembered.run()) if remembered else None
        try:
            while True:
                await self._sleep(pause)
                try:
                    report = await self.tick()
                    pause = max(interval, report.retry_after)
                except Exception:  # a bug must not stop the loop; the next tick starts afresh
                    log.exception("reconcile: unexpected error")
                    pause = interval
        finally:
            if writer is not None:
                writer.cancel()

    async def preview(self) -> Report:
        """What a tick would read and plan, changing nothing (`rod reconcile --dry-run`)."""
        if self.remembered:
            await self.remembered.load()  # its repositories are served, as a tick's are
        observation, problems, retry_after = await self.observe()
        result = self.plan(observation) if observation else None
        return Report(observation, result, problems=tuple(problems), retry_after=retry_after)

    async def tick(self) -> Report:
        """Observe, plan, act once."""
        if self.remembered:
            await self.remembered.load()  # once; again at ticks while Nomad would not answer
        observation, problems, retry_after = await self.observe()
        if observation is None:
            self._count_tick("failed")
            log.warning("reconcile: skipped, %s", "; ".join(problems))
            return Report(None, None, problems=tuple(problems), retry_after=retry_after)
        if self.remembered:
            await self.remembered.save()  # the set changed: pruned, forgotten, or new
        result = self.plan(observation)
        outcomes, destroyed = await self._actor.carry_out(result)
        if destroyed and self._metrics:
            self._metrics.actions.labels("credential", "destroyed").inc(len(destroyed))
        for outcome in outcomes:
            kind = "retire" if isinstance(outcome.action, Retire) else "dispatch"
            # Routine during a burst, and once per job per tick: aggregated below.
            quiet = outcome.result in (ActionResult.DUPLICATE, ActionResult.DEFERRED)
            log.log(
                logging.DEBUG if quiet else logging.INFO,
                "reconcile: %s %s (%s): %s",
                kind,
                outcome.action.runner_name,
                outcome.action.reason,
                outcome,
            )
            if self._metrics:
                self._metrics.actions.labels(kind, outcome.result.value).inc()
        deferred = [o.action.runner_name for o in outcomes if o.result is ActionResult.DEFERRED]
        if deferred:
            shown = ", ".join(deferred[:3]) + (", ..." if len(deferred) > 3 else "")
            log.info("reconcile: %d runners deferred to the next tick (%s)", len(deferred), shown)
        for job in result.gave_up:
            log.error(
                "reconcile: %s is still queued after %d retries; giving up",
                job,
                self.policy.settings.max_retries,
            )
        self._count_tick("partial" if problems else "ok")
        if not problems and self._metrics:
            self._metrics.last_success.set(observation.now)
        names = tuple(spent.runner_name for spent in destroyed)
        return Report(observation, result, tuple(outcomes), tuple(problems), retry_after, names)

    async def observe(self) -> tuple[Observation | None, list[str], float]:
        """What Nomad and GitHub show now; None when Nomad cannot be read."""
        if any(pool.runner_group for pool in self.policy.decision.pools):
            decision = await refresh(self._github, self.policy.decision)
            self.policy = replace(self.policy, decision=decision)
            self._pipeline.policy = decision
        now = self._clock()
        # Runners queued for dispatch when the reads begin and when they end: one carried out
        # meanwhile may be in neither listing, and must not look like missing capacity.
        in_flight = self._in_flight()
        children: list[Child] = []
        for parent in sorted({pool.nomad_job for pool in self.policy.decision.pools}):
            try:
                children += await self._nomad.list_children(parent)
            except UpstreamError as error:
                return None, [f"Nomad: {error}"], 0.0
        reads = GitHubReads(self._github, self._served(children))
        # Jobs both before and after the runners: see `Observation.earlier_jobs`.
        earlier_jobs = await reads.jobs()
        runners = await reads.runners(self._runner_scopes())
        jobs = await reads.jobs()
        try:
            credentials = await self._credentials()  # ages depend on them: no plan without
        except UpstreamError as error:
            return None, [f"Nomad: {error}"], 0.0
        for job in (*earlier_jobs, *jobs):
            self.repos.saw(job.event.repo_full_name)  # a queued job keeps its repository served
        observed = reads.observed()
        for full_name in reads.gone.values():
            if self.repos.forget(full_name):
                log.warning(
                    "reconcile: GitHub answers 404 for %s (gone, renamed, or out of the token's "
                    "sight); not served until an intake names it again",
                    full_name,
                )
        observation = Observation(
            now=now,
            repos=frozenset(observed),
            jobs=tuple(jobs),
            children=tuple(children),
            runners=tuple(runners),
            first_seen=self._seen.update(runners, observed, now),
            earlier_jobs=tuple(earlier_jobs),
            in_flight=tuple({**in_flight, **self._in_flight()}.values()),
            credentials=tuple(credentials),
            unread=reads.unread(),
        )
        return observation, reads.problems, reads.retry_after

    def _runner_scopes(self) -> tuple[bool, dict[str, str]]:
        """Whether repositories' runners are read, and the organizations whose runners are."""
        pools = self.policy.decision.pools
        orgs = {p.group.org.lower(): p.group.org for p in pools if p.group and p.runner_group}
        return any(pool.runner_group is None for pool in pools), orgs

    def _in_flight(self) -> dict[str, InFlight]:
        """The runners the pipeline has queued or is dispatching now, by name."""
        return {
            pending.start.runner_name: InFlight(
                str(runner_scope(pending.start.pool, pending.event.repo_full_name)),
                pending.start.runner_name,
                pending.start.labels,
            )
            for pending in self._pipeline.in_flight()
        }

    def _served(self, children: Iterable[Child]) -> dict[str, str]:
        """The served repositories the allowlist admits."""
        allows = self.policy.decision.allows
        repos = self.repos.names(children)
        return {k: v for k, v in repos.items() if allows(v)}

    async def _credentials(self) -> list[VariableMeta]:
        """The runner credential Variables of every pool's job."""
        found: list[VariableMeta] = []
        for parent in sorted({pool.nomad_job for pool in self.policy.decision.pools}):
            found += await self._nomad.list_variables(credentials_prefix(parent))
        return found

    def _count_tick(self, outcome: str) -> None:
        """Count one tick: ok, partial (some repositories unread) or failed (Nomad unread)."""
        if self._metrics:
            self._metrics.ticks.labels(outcome).inc()
