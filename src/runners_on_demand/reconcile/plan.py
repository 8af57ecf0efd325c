"""The reconciler's plan: what GitHub and Nomad show in, the actions that set it right out. Pure.

No network, clock or environment here: the I/O loop (`loop.py`) observes, calls `plan`, and
carries the actions out. Theory of operation:

- A *unit* is one runner we made: the GitHub runner and the Nomad child that share a runner name
  `rod-{job_id}-{run_attempt}[-r{n}]`. We only ever touch units we can prove are ours: a runner
  whose name has that exact shape, and a child of a configured runner job whose Meta carries
  `managed_by = "runners-on-demand"` (inherited from the parent job) and a runner name of that
  shape. Everything else is invisible to the plan.
- Job stealing: GitHub gives a queued job to any idle runner whose labels cover it
  (https://docs.github.com/actions/hosting-your-own-runners/managing-self-hosted-runners/using-self-hosted-runners-in-a-workflow),
  so the runner made for job A may run job B. Demand is therefore counted per (scope, exact
  label set): queued jobs against idle units. Short of units: dispatch for queued jobs that
  have none of their own. Too many: retire idle units, those whose own job is gone first.
- Scope: where a runner is registered. A repository runner serves its repository only, so its
  scope is the repository. An org runner (a pool with a runner group) serves any repository its
  group allows, so it may take a job of another repository than the one it was made for: its
  scope is the organization, and the queued jobs of every served repository of the org that the
  same pool would serve count against its idle units. It still belongs to one job (its name),
  and its child's REPO_FULL_NAME names that job's repository. An organization is observed only
  when its runners and every served repository of it were read in full.
- A busy runner is never touched. A unit is retired by removing its runner first (GitHub answers
  422 while a runner works, and then the child is left alone) and stopping its child second.
- Retries: a job whose unit failed (allocation failed, never connected, vanished) gets a new
  runner named `rod-{job}-{attempt}-r{n}`, n one more than the highest n seen for that job, at most
  `max_retries` times. The earlier tries are counted from what is still visible (children until
  Nomad's GC, 4 h by default; runners until removed), so a job out of retries keeps its last
  childless runner. Two replicas planning from the same view compute the same names, and the
  name is also the Nomad idempotency token and unique on GitHub, so they make one runner.
- Ages come from what outlives a process: a child's SubmitTime, else the runner's credential
  Variable's ModifyTime; only a runner with neither is dated by when this process first saw it
  (`Observation.first_seen`), so a fresh `rod reconcile --once` never retires such a runner for
  having no child. A childless runner whose credential is stored, for a job still queued, is not
  retired but dispatched again (stored.py `to_resume`; the plan's last actions), and credential
  Variables nobody will read again are destroyed (`Plan.destroy`, stored.py `stale_credentials`).
- Applying a plan's effects and planning again yields no action (tests check this).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from runners_on_demand.decision import Policy, StartRunner, decide, runner_scope
from runners_on_demand.events import Intake, Origin
from runners_on_demand.names import parse_runner_name, runner_name
from runners_on_demand.observed import QueuedJob
from runners_on_demand.reconcile.model import (
    Action,
    Demand,
    Destroy,
    InFlight,
    MakeRunner,
    Observation,
    Plan,
    ReconcilePolicy,
    Retire,
    RetireReason,
)
from runners_on_demand.reconcile.stored import stale_credentials, to_resume
from runners_on_demand.reconcile.units import JobKey, LabelKey, Unit, Verdict, assess, join_units

__all__ = [
    "Action",
    "Demand",
    "Destroy",
    "InFlight",
    "MakeRunner",
    "Observation",
    "Plan",
    "ReconcilePolicy",
    "Retire",
    "RetireReason",
    "plan",
]

_Jobs = Mapping[JobKey, tuple[QueuedJob, StartRunner]]


@dataclass(frozen=True)
class _LabelSet:
    """One repository and exact label set: its queued jobs and the units that could serve them."""

    scope: str  # the scope key: a repository, or an organization
    jobs: _Jobs  # the later listing: dispatch only for these
    wanted: int  # the larger count of both listings: neither a taken nor a new job retires
    idle: list[Unit]
    pending: Mapping[str, JobKey]  # runner names in flight here -> their jobs


def plan(observation: Observation, policy: ReconcilePolicy) -> Plan:
    """The actions that bring runners in line with the queued jobs (see the module docstring)."""
    demand = _demand(observation.jobs, observation.repos, policy.decision)
    earlier = observation.earlier_jobs
    before = demand if earlier is None else _demand(earlier, observation.repos, policy.decision)
    queued_labels = {
        job: key for listing in (before, demand) for key, jobs in listing.items() for job in jobs
    }
    units = join_units(observation, policy.decision, queued_labels)
    # Childless runners the stored credentials will dispatch again: idle, not retired.
    resumed = {a.start.runner_name for a in to_resume(observation.credentials, observation, policy)}
    tries: dict[tuple[str, JobKey], int] = {}  # (scope, job) -> highest retry seen
    for unit in units.values():
        tries[unit.repo, unit.job] = max(unit.retry, tries.get((unit.repo, unit.job), -1))
    actions: list[Action] = []
    idle: dict[LabelKey, list[Unit]] = defaultdict(list)
    busy = 0
    for unit in sorted(units.values(), key=lambda u: (u.repo, u.name)):
        verdict = assess(unit, policy)
        if verdict is RetireReason.NO_NOMAD_JOB and unit.name in resumed:
            verdict = Verdict.IDLE
        elif isinstance(verdict, RetireReason) and _last_record(unit, queued_labels, tries, policy):
            verdict = Verdict.KEEP
        if verdict is Verdict.BUSY:
            busy += 1
        elif verdict is Verdict.IDLE:
            idle[unit.key].append(unit)
        elif isinstance(verdict, RetireReason):
            actions.append(_retire(unit, verdict))
    # Runner names in flight, by label set; one already listed counts once, as its unit.
    pending: dict[LabelKey, dict[str, JobKey]] = defaultdict(dict)
    for runner in observation.in_flight:
        parsed = parse_runner_name(runner.name)
        if parsed is not None and (runner.repo.lower(), runner.name) not in units:
            key = (runner.repo.lower(), frozenset(label.lower() for label in runner.labels))
            pending[key][runner.name] = (parsed.job_id, parsed.run_attempt)
    gave_up: list[str] = []
    report: list[Demand] = []
    for key in sorted({*demand, *before, *idle}, key=lambda k: (k[0], sorted(k[1]))):
        jobs, spare = demand.get(key, {}), idle.get(key, [])
        wanted = max(len(jobs), len(before.get(key, {})))
        report.append(Demand(key[0], tuple(sorted(key[1])), len(jobs), len(spare)))
        made, out_of_retries = _balance(
            _LabelSet(key[0], jobs, wanted, spare, pending[key]), tries, policy, observation.now
        )
        actions += made
        gave_up += out_of_retries
    # Stored runners no child came for, unless retired as surplus; then spent Variables.
    retired = {action.runner_name for action in actions if isinstance(action, Retire)}
    again = to_resume(observation.credentials, observation, policy, retired)
    kept = {action.runner_name for action in again}
    stale = stale_credentials(observation.credentials, observation, policy)
    destroy = tuple(d for d in (Destroy(*found) for found in stale) if d.runner_name not in kept)
    return Plan((*actions, *again), tuple(report), busy, tuple(gave_up), destroy)


def _demand(
    listing: Iterable[QueuedJob], repos: frozenset[str], policy: Policy
) -> dict[LabelKey, dict[JobKey, tuple[QueuedJob, StartRunner]]]:
    """Queued jobs the webhook path would serve, by (scope, labels) and then (job, attempt)."""
    demand: dict[LabelKey, dict[JobKey, tuple[QueuedJob, StartRunner]]] = defaultdict(dict)
    for job in listing:
        event = job.event
        decision = decide(event, policy)
        if not isinstance(decision, StartRunner) or event.repo_full_name.lower() not in repos:
            continue
        scope = runner_scope(decision.pool, event.repo_full_name).key
        if scope in repos:
            key = (scope, frozenset(label.lower() for label in event.labels))
            demand[key][(event.job_id, event.run_attempt)] = (job, decision)
    return demand


def _last_record(
    unit: Unit,
    queued: Mapping[JobKey, LabelKey],
    tries: Mapping[tuple[str, JobKey], int],
    policy: ReconcilePolicy,
) -> bool:
    """Whether this is a childless runner of a queued job out of retries, to be kept.

    Such a runner is the only record of its try: removing it would start the count again.
    GitHub removes a JIT runner that never connects by itself.
    """
    out_of_retries = tries[unit.repo, unit.job] >= policy.settings.max_retries
    return unit.child is None and unit.job in queued and out_of_retries


def _retire(unit: Unit, reason: RetireReason) -> Retire:
    child = unit.child if unit.child is not None and unit.child.live else None
    return Retire(
        repo=unit.repo,
        runner_name=unit.name,
        runner_id=unit.runner.id if unit.runner else None,
        child_id=child.id if child else None,
        reason=reason,
    )


def _balance(
    labels: _LabelSet,
    tries: Mapping[tuple[str, JobKey], int],
    policy: ReconcilePolicy,
    now: float,
) -> tuple[list[Action], list[str]]:
    """Make or retire runners so that one label set's idle units match its queued jobs.

    Returns the actions and the jobs ("owner/repo#job") out of retries.
    """
    jobs, idle, settings = labels.jobs, labels.idle, policy.settings
    # Each queued job keeps its best own unit (online first, then the oldest); the rest is spare.
    own: dict[JobKey, list[Unit]] = defaultdict(list)
    for unit in idle:
        own[unit.job].append(unit)
    best = (min(own[job], key=lambda u: (not u.online, u.retry)) for job in jobs if job in own)
    kept = {unit.name for unit in best}
    surplus = len(idle) - labels.wanted
    if surplus > 0:
        spare = [u for u in idle if u.name not in kept and u.age >= settings.idle_grace_seconds]
        spare.sort(key=lambda u: (u.online, u.name))
        return [_retire(unit, RetireReason.SURPLUS) for unit in spare[:surplus]], []
    in_flight = set(labels.pending.values())
    served = {job for job in jobs if job in own or job in in_flight}
    need = len(jobs) - len(idle) - len(labels.pending)
    actions: list[Action] = []
    gave_up: list[str] = []
    for job in sorted(jobs):
        if need <= 0:
            break
        queued, decision = jobs[job]
        if job in served:
            continue
        event = queued.event
        retry = tries.get((labels.scope, job), -1) + 1
        if retry > settings.max_retries:
            gave_up.append(f"{event.repo_full_name}#{event.job_id}")
            continue
        delay = settings.dispatch_delay_seconds
        fresh = queued.queued_at is not None and now - queued.queued_at < delay
        if retry == 0 and fresh:
            continue
        name = runner_name(event.job_id, event.run_attempt, retry)
        # The pipeline drops a repeated origin: make it one per runner name.
        event = replace(event, origin=Origin(Intake.RECONCILE, name))
        actions.append(MakeRunner(event, replace(decision, runner_name=name), retry))
        need -= 1
    return actions, gave_up
