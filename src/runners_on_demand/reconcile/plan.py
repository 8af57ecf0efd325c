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
  so the runner made for job A may run job B. Demand is therefore counted per (repository,
  exact label set): queued jobs against idle units. Short of units: dispatch for queued jobs that
  have none of their own. Too many: retire idle units, those whose own job is gone first.
- A busy runner is never touched. A unit is retired by removing its runner first (GitHub answers
  422 while a runner works, and then the child is left alone) and stopping its child second.
- Retries: a job whose unit failed (allocation failed, never connected, vanished) gets a new
  runner named `rod-{job}-{attempt}-r{n}`, n one more than the highest n seen for that job, at most
  `max_retries` times. The earlier tries are counted from what is still visible (children until
  Nomad's GC, 4 h by default; runners until removed), so a job out of retries keeps its last
  childless runner. Two replicas planning from the same view compute the same names, and the
  name is also the Nomad idempotency token and unique on GitHub, so they make one runner.
- Applying a plan's effects and planning again yields no action (tests check this).
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from runners_on_demand.decision import Policy, StartRunner, decide
from runners_on_demand.events import Intake, Origin, WorkflowJobEvent
from runners_on_demand.names import parse_runner_name, runner_name
from runners_on_demand.observed import MANAGED_BY, MANAGED_BY_KEY, Child, QueuedJob, Runner
from runners_on_demand.reconcile.settings import ReconcileSettings

__all__ = [
    "Action",
    "Demand",
    "InFlight",
    "MakeRunner",
    "Observation",
    "Plan",
    "ReconcilePolicy",
    "Retire",
    "RetireReason",
    "plan",
]


@dataclass(frozen=True)
class InFlight:
    """A runner queued for dispatch in this process: its repository, name and job labels."""

    repo: str
    name: str
    labels: tuple[str, ...]


@dataclass(frozen=True)
class Observation:
    """What GitHub and Nomad showed, for the repositories in `repos` only."""

    now: float
    # Repositories (lower-case owner/name) whose queued jobs and runners were both read in full.
    repos: frozenset[str]
    # Queued jobs listed after the runners: a job taken meanwhile is gone here while the runner
    # that took it may still look idle, so a shortfall counted from this list is never too big.
    jobs: tuple[QueuedJob, ...]
    # Listed before the runners: a JIT runner is made before its child, so every child seen
    # has its runner in the later runner list unless that runner is gone.
    children: tuple[Child, ...]
    runners: tuple[Runner, ...]
    # Runner name -> when this process first saw it; a runner without a child has no other age.
    first_seen: Mapping[str, float] = field(default_factory=dict)
    # The same listing made before the runners (None: `jobs` serves for both): a job taken
    # meanwhile still counts here while its runner looks busy, so a surplus is never too big.
    earlier_jobs: tuple[QueuedJob, ...] | None = None
    # Runners this process has queued for dispatch but not made yet (a backlog the listings
    # cannot show): capacity for their label set, and their own jobs count as served.
    in_flight: tuple[InFlight, ...] = ()


@dataclass(frozen=True)
class ReconcilePolicy:
    """What the plan follows: the webhook path's decision and the `[reconcile]` settings."""

    decision: Policy = field(default_factory=Policy)
    settings: ReconcileSettings = field(default_factory=ReconcileSettings)
    # JIT mode: the runner exists on GitHub before its child starts (registration-token: after).
    runner_precreated: bool = True


class RetireReason(enum.StrEnum):
    """Why a runner of ours is retired."""

    ALLOCATION_FAILED = "allocation failed"
    JOB_ENDED = "its Nomad job ended"
    NO_NOMAD_JOB = "no Nomad job"
    RUNNER_GONE = "runner gone"
    NEVER_REGISTERED = "never registered"
    NEVER_CONNECTED = "never connected"
    SURPLUS = "no queued job for its labels"


class _Verdict(enum.Enum):
    """A unit that stays: it runs a job, waits for one, or has nothing left to retire."""

    BUSY = "busy"
    IDLE = "idle"
    KEEP = "keep"


@dataclass(frozen=True)
class MakeRunner:
    """Make a runner for this queued job (credential, then Nomad dispatch)."""

    event: WorkflowJobEvent
    start: StartRunner
    retry: int  # 0: the job's first runner (the webhook path's own name)

    @property
    def reason(self) -> str:
        """Why, for people."""
        return f"retry {self.retry}" if self.retry else "no runner (missed webhook?)"


@dataclass(frozen=True)
class Retire:
    """Remove runner `runner_id` (skip all on 422: busy), then stop child `child_id`."""

    repo: str
    runner_name: str
    runner_id: int | None  # None: look the name up again first (the list may be stale)
    child_id: str | None  # None or a child that is no longer live: nothing to stop
    reason: RetireReason


Action = MakeRunner | Retire


@dataclass(frozen=True)
class Demand:
    """Queued jobs against idle units for one repository and exact label set."""

    repo: str
    labels: tuple[str, ...]
    queued: int
    idle: int


@dataclass(frozen=True)
class Plan:
    """The actions, and what the plan saw, for `rod reconcile --once` to print."""

    actions: tuple[Action, ...]
    demand: tuple[Demand, ...]
    busy: int  # busy runners of ours: never touched
    gave_up: tuple[str, ...]  # "owner/repo#job": still queued, out of retries


_Key = tuple[str, frozenset[str]]  # (lower-case repo, lower-case labels)
_JobKey = tuple[int, int]  # (job id, run attempt)
_Jobs = Mapping[_JobKey, tuple[QueuedJob, StartRunner]]


@dataclass(frozen=True)
class _Unit:
    """A runner name's child and runner, as far as they are known."""

    repo: str
    name: str
    job: _JobKey
    retry: int
    child: Child | None
    runner: Runner | None
    age: float
    key: _Key  # the label set it serves
    in_flight: bool  # a dispatch of this process holds its credential

    @property
    def online(self) -> bool:
        """Whether the unit's runner is connected to GitHub."""
        return self.runner is not None and self.runner.status == "online"


@dataclass(frozen=True)
class _LabelSet:
    """One repository and exact label set: its queued jobs and the units that could serve them."""

    jobs: _Jobs  # the later listing: dispatch only for these
    wanted: int  # the larger count of both listings: neither a taken nor a new job retires
    idle: list[_Unit]
    pending: Mapping[str, _JobKey]  # runner names in flight here -> their jobs


def plan(observation: Observation, policy: ReconcilePolicy) -> Plan:
    """The actions that bring runners in line with the queued jobs (see the module docstring)."""
    demand = _demand(observation.jobs, observation.repos, policy.decision)
    earlier = observation.earlier_jobs
    before = demand if earlier is None else _demand(earlier, observation.repos, policy.decision)
    queued_labels = {
        job: key for listing in (before, demand) for key, jobs in listing.items() for job in jobs
    }
    units = _units(observation, policy.decision, queued_labels)
    tries: dict[tuple[str, _JobKey], int] = {}
    for unit in units.values():
        tries[unit.repo, unit.job] = max(unit.retry, tries.get((unit.repo, unit.job), -1))
    actions: list[Action] = []
    idle: dict[_Key, list[_Unit]] = defaultdict(list)
    busy = 0
    for unit in sorted(units.values(), key=lambda u: (u.repo, u.name)):
        verdict = _assess(unit, policy)
        if isinstance(verdict, RetireReason) and _last_record(unit, queued_labels, tries, policy):
            verdict = _Verdict.KEEP
        if verdict is _Verdict.BUSY:
            busy += 1
        elif verdict is _Verdict.IDLE:
            idle[unit.key].append(unit)
        elif isinstance(verdict, RetireReason):
            actions.append(_retire(unit, verdict))
    # Runner names in flight, by label set; one already listed counts once, as its unit.
    pending: dict[_Key, dict[str, _JobKey]] = defaultdict(dict)
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
            _LabelSet(jobs, wanted, spare, pending[key]), tries, policy, observation.now
        )
        actions += made
        gave_up += out_of_retries
    return Plan(tuple(actions), tuple(report), busy, tuple(gave_up))


def _demand(
    listing: Iterable[QueuedJob], repos: frozenset[str], policy: Policy
) -> dict[_Key, dict[_JobKey, tuple[QueuedJob, StartRunner]]]:
    """Queued jobs the webhook path would serve, by (repo, labels) and then (job, attempt)."""
    demand: dict[_Key, dict[_JobKey, tuple[QueuedJob, StartRunner]]] = defaultdict(dict)
    for job in listing:
        event = job.event
        repo = event.repo_full_name.lower()
        decision = decide(event, policy)
        if repo in repos and isinstance(decision, StartRunner):
            key = (repo, frozenset(label.lower() for label in event.labels))
            demand[key][(event.job_id, event.run_attempt)] = (job, decision)
    return demand


def _units(
    observation: Observation, policy: Policy, queued: Mapping[_JobKey, _Key]
) -> dict[tuple[str, str], _Unit]:
    """Our children and runners in the observed repositories, joined by runner name."""
    parents = {pool.nomad_job for pool in policy.pools}
    children: dict[tuple[str, str], Child] = {}
    runners: dict[tuple[str, str], Runner] = {}

    def ours(repo: str, name: str) -> bool:
        return repo in observation.repos and parse_runner_name(name) is not None

    for found in observation.children:
        meta = found.meta
        if found.parent_id not in parents or meta.get(MANAGED_BY_KEY) != MANAGED_BY:
            continue
        where = (meta.get("REPO_FULL_NAME", "").lower(), meta.get("RUNNER_NAME", ""))
        parsed = parse_runner_name(where[1])
        if not ours(*where) or parsed is None or meta.get("GITHUB_JOB_ID") != str(parsed.job_id):
            continue
        # Two children for one name cannot come from us (the name is the idempotency token);
        # keep the live one if there is one.
        known = children.get(where)
        if known is None or (found.live and not known.live):
            children[where] = found
    for listed in observation.runners:
        where = (listed.repo.lower(), listed.name)
        if ours(*where):
            runners[where] = listed
    in_flight = {(pending.repo.lower(), pending.name) for pending in observation.in_flight}
    units: dict[tuple[str, str], _Unit] = {}
    for where in {*children, *runners}:
        parsed = parse_runner_name(where[1])
        assert parsed is not None
        child, runner = children.get(where), runners.get(where)
        job = (parsed.job_id, parsed.run_attempt)
        born = child.submit_time if child else observation.first_seen.get(where[1])
        units[where] = _Unit(
            repo=where[0],
            name=where[1],
            job=job,
            retry=parsed.retry,
            child=child,
            runner=runner,
            age=0.0 if born is None else observation.now - born,
            key=_unit_key(where[0], job, child, runner, queued),
            in_flight=where in in_flight,
        )
    return units


def _unit_key(
    repo: str,
    job: _JobKey,
    child: Child | None,
    runner: Runner | None,
    queued: Mapping[_JobKey, _Key],
) -> _Key:
    """The label set a unit serves: its child's RUNNER_LABELS, else its job's, else GitHub's."""
    if child is not None:
        labels: Iterable[str] = child.meta.get("RUNNER_LABELS", "").split(",")
    elif job in queued:
        return queued[job]
    else:
        labels = runner.labels if runner else ()
    return (repo, frozenset(label.lower() for label in labels if label))


def _assess(unit: _Unit, policy: ReconcilePolicy) -> _Verdict | RetireReason:
    """Whether the unit is busy, idle, to be left alone, or to be retired (and why)."""
    runner, child, settings = unit.runner, unit.child, policy.settings
    if runner is not None and runner.busy:
        return _Verdict.BUSY
    if child is not None and child.failed:
        return RetireReason.ALLOCATION_FAILED if runner or child.live else _Verdict.KEEP
    if child is not None and not child.live:
        return RetireReason.JOB_ENDED if runner else _Verdict.KEEP
    if child is None:
        # A runner with no child: a dispatch in flight, or one that never will be (its process
        # died holding the credential). Ours in flight wait; another's get the idle grace.
        if unit.in_flight:
            return _Verdict.IDLE
        limit = (
            settings.idle_grace_seconds
            if policy.runner_precreated
            else settings.boot_timeout_seconds
        )
        return RetireReason.NO_NOMAD_JOB if unit.age >= limit else _Verdict.IDLE
    if runner is None:
        if policy.runner_precreated:  # the JIT runner was removed: its one job is done
            gone = unit.age >= settings.idle_grace_seconds
            return RetireReason.RUNNER_GONE if gone else _Verdict.KEEP
        if unit.age >= settings.boot_timeout_seconds:
            return RetireReason.NEVER_REGISTERED
        return _Verdict.IDLE
    if runner.status != "online" and unit.age >= settings.boot_timeout_seconds:
        return RetireReason.NEVER_CONNECTED
    return _Verdict.IDLE


def _last_record(
    unit: _Unit,
    queued: Mapping[_JobKey, _Key],
    tries: Mapping[tuple[str, _JobKey], int],
    policy: ReconcilePolicy,
) -> bool:
    """Whether this is a childless runner of a queued job out of retries, to be kept.

    Such a runner is the only record of its try: removing it would start the count again.
    GitHub removes a JIT runner that never connects by itself.
    """
    out_of_retries = tries[unit.repo, unit.job] >= policy.settings.max_retries
    return unit.child is None and unit.job in queued and out_of_retries


def _retire(unit: _Unit, reason: RetireReason) -> Retire:
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
    tries: Mapping[tuple[str, _JobKey], int],
    policy: ReconcilePolicy,
    now: float,
) -> tuple[list[Action], list[str]]:
    """Make or retire runners so that one label set's idle units match its queued jobs.

    Returns the actions and the jobs ("owner/repo#job") out of retries.
    """
    jobs, idle, settings = labels.jobs, labels.idle, policy.settings
    # Each queued job keeps its best own unit (online first, then the oldest); the rest is spare.
    own: dict[_JobKey, list[_Unit]] = defaultdict(list)
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
        retry = tries.get((event.repo_full_name.lower(), job), -1) + 1
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
