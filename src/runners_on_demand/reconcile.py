"""The reconciler's pure core: what GitHub and Nomad show in, the actions that set it right out.

No network, clock or environment here: the I/O loop (`reconciler.py`) observes, calls `plan`, and
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

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from runners_on_demand.decision import Dispatch, Policy, decide, runner_name
from runners_on_demand.delivery import WorkflowJobEvent, is_valid_full_name

__all__ = [
    "MANAGED_BY",
    "MANAGED_BY_KEY",
    "Action",
    "Child",
    "Demand",
    "DispatchRunner",
    "InFlight",
    "Observation",
    "Plan",
    "QueuedJob",
    "ReconcilePolicy",
    "Retire",
    "Runner",
    "child_from_stub",
    "plan",
    "queued_job_from_rest",
    "runner_from_rest",
]

# The parent job's meta, inherited by every dispatched child (deploy/nomad/github-runner.nomad.hcl).
MANAGED_BY_KEY = "managed_by"
MANAGED_BY = "runners-on-demand"
# decision.runner_name, plus the reconciler's retry suffix.
_NAME = re.compile(r"rod-([1-9][0-9]{0,19})-([1-9][0-9]{0,9})(?:-r([1-9][0-9]{0,4}))?")


@dataclass(frozen=True)
class QueuedJob:
    """A queued workflow job from GitHub's REST API, as the webhook path would have seen it."""

    event: WorkflowJobEvent
    queued_at: float | None = None  # the job's created_at, seconds since the epoch


@dataclass(frozen=True)
class Child:
    """A dispatched child of a runner job, from Nomad's job list."""

    id: str
    parent_id: str
    status: str  # pending | running | dead (https://developer.hashicorp.com/nomad/api-docs/jobs)
    stop: bool
    meta: Mapping[str, str]
    submit_time: float  # seconds since the epoch
    failed: bool  # an allocation failed or was lost

    @property
    def live(self) -> bool:
        """Still wanted by Nomad: not stopped and not dead."""
        return not self.stop and self.status != "dead"


@dataclass(frozen=True)
class Runner:
    """A self-hosted runner registered on a repository."""

    repo: str
    id: int
    name: str
    status: str  # online | offline
    busy: bool
    labels: tuple[str, ...] = ()


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
    """The operator's knobs; times in seconds."""

    decision: Policy = field(default_factory=Policy)
    # A runner must connect within this long after its child was submitted (aws-runners: 5 min).
    boot_timeout: float = 300.0
    # A unit younger than this is never retired as surplus, so a fresh dispatch is not undone;
    # nor is a JIT runner without a child that no dispatch of this process holds.
    idle_grace: float = 60.0
    # New runners per job attempt after the first, when earlier ones failed or were taken.
    max_retries: int = 3
    # The webhook path gets this long to serve a queued job before the reconciler does.
    dispatch_delay: float = 0.0
    # JIT mode: the runner exists on GitHub before its child starts (registration-token: after).
    runner_precreated: bool = True


@dataclass(frozen=True)
class DispatchRunner:
    """Make a runner for this queued job (JIT config, then Nomad dispatch)."""

    event: WorkflowJobEvent
    dispatch: Dispatch
    reason: str


@dataclass(frozen=True)
class Retire:
    """Remove runner `runner_id` (skip all on 422: busy), then stop child `child_id`."""

    repo: str
    runner_name: str
    runner_id: int | None  # None: look the name up again first (the list may be stale)
    child_id: str | None  # None or a child that is no longer live: nothing to stop
    reason: str


Action = DispatchRunner | Retire


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


# -- parsing what the APIs answer (pure) -------------------------------------------------------


def queued_job_from_rest(job: Mapping[str, Any], repository: Mapping[str, Any]) -> QueuedJob | None:
    """A REST workflow job and its run's repository as a `queued` event; None if unusable."""
    # https://docs.github.com/rest/actions/workflow-jobs#list-jobs-for-a-workflow-run
    try:
        full_name = str(repository["full_name"])
        labels = job["labels"]
        job_id, run_id, attempt = int(job["id"]), int(job["run_id"]), int(job.get("run_attempt", 1))
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            return None
        owner, _, name = full_name.partition("/")
        event = WorkflowJobEvent(
            delivery_id=f"reconcile:{job_id}-{attempt}",
            hook_id=None,
            action="queued",
            job_id=job_id,
            run_id=run_id,
            run_attempt=attempt,
            job_name=str(job.get("name") or ""),
            workflow_name=job.get("workflow_name"),
            labels=tuple(labels),
            status=str(job["status"]),
            conclusion=None,
            runner_id=None,
            runner_name=None,
            repo_full_name=full_name,
            repo_owner=owner,
            repo_name=name,
            repo_html_url=str(repository["html_url"]),
            fork=bool(repository.get("fork", False)),
            installation_id=None,
        )
    except (KeyError, TypeError, ValueError):
        return None
    if event.status != "queued" or min(job_id, run_id, attempt) < 1:
        return None
    if not is_valid_full_name(full_name):
        return None
    return QueuedJob(event=event, queued_at=_timestamp(job.get("created_at")))


def runner_from_rest(repo: str, runner: Mapping[str, Any]) -> Runner | None:
    """A runner of `GET /repos/{owner}/{repo}/actions/runners`; None if unusable."""
    # https://docs.github.com/rest/actions/self-hosted-runners#list-self-hosted-runners-for-a-repository
    try:
        labels = tuple(str(label["name"]) for label in runner.get("labels") or ())
        return Runner(
            repo=repo,
            id=int(runner["id"]),
            name=str(runner["name"]),
            status=str(runner["status"]),
            busy=bool(runner["busy"]),
            labels=labels,
        )
    except (KeyError, TypeError, ValueError):
        return None


def child_from_stub(stub: Mapping[str, Any]) -> Child | None:
    """A `GET /v1/jobs?meta=true` stub as a Child; None unless it is a dispatched child."""
    # https://developer.hashicorp.com/nomad/api-docs/jobs#list-jobs (JobListStub)
    parent = stub.get("ParentID")
    if not isinstance(parent, str) or not parent:
        return None
    meta = stub.get("Meta") or {}
    summary = (stub.get("JobSummary") or {}).get("Summary") or {}
    try:
        failed = any(int(g.get("Failed", 0)) + int(g.get("Lost", 0)) > 0 for g in summary.values())
        return Child(
            id=str(stub["ID"]),
            parent_id=parent,
            status=str(stub["Status"]),
            stop=bool(stub.get("Stop", False)),
            meta={str(k): str(v) for k, v in meta.items()},
            submit_time=int(stub.get("SubmitTime") or 0) / 1e9,
            failed=failed,
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def _timestamp(value: Any) -> float | None:
    """An ISO 8601 time as seconds since the epoch; None if absent or unreadable."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


# -- the plan ----------------------------------------------------------------------------------

_Key = tuple[str, frozenset[str]]  # (lower-case repo, lower-case labels)


@dataclass
class _Unit:
    """A runner name's child and runner, as far as they are known."""

    repo: str
    name: str
    job: tuple[int, int]  # (job id, run attempt)
    retry: int
    child: Child | None = None
    runner: Runner | None = None
    age: float = 0.0
    key: _Key | None = None
    in_flight: bool = False  # a dispatch of this process holds its credential


def plan(observation: Observation, policy: ReconcilePolicy) -> Plan:
    """The actions that bring runners in line with the queued jobs (see the module docstring)."""
    now = observation.now
    demand = _demand(observation.jobs, observation.repos, policy.decision)
    earlier = observation.earlier_jobs
    before = demand if earlier is None else _demand(earlier, observation.repos, policy.decision)
    units = _units(observation, policy.decision)
    for runner in observation.in_flight:
        if (unit := units.get((runner.repo.lower(), runner.name))) is not None:
            unit.in_flight = True
    queued_labels = {
        job: key for listing in (before, demand) for key, jobs in listing.items() for job in jobs
    }
    actions: list[Action] = []
    idle: dict[_Key, list[_Unit]] = defaultdict(list)
    tries: dict[tuple[str, tuple[int, int]], int] = {}
    busy = 0
    for unit in units.values():
        tries[unit.repo, unit.job] = max(unit.retry, tries.get((unit.repo, unit.job), -1))
    for unit in sorted(units.values(), key=lambda u: (u.repo, u.name)):
        unit.age = now - (
            unit.child.submit_time if unit.child else observation.first_seen.get(unit.name, now)
        )
        unit.key = _unit_key(unit, queued_labels)
        verdict = _assess(unit, policy)
        if verdict not in ("busy", "idle") and _last_record(unit, queued_labels, tries, policy):
            verdict = ""
        if verdict == "busy":
            busy += 1
        elif verdict == "idle":
            idle[unit.key].append(unit)
        elif verdict:
            actions.append(_retire(unit, verdict))
    gave_up: list[str] = []
    report: list[Demand] = []
    # Runner names in flight, by label set; one already listed counts once, as its unit.
    pending: dict[_Key, dict[str, tuple[int, int]]] = defaultdict(dict)
    for runner in observation.in_flight:
        match = _NAME.fullmatch(runner.name)
        if match is not None and (runner.repo.lower(), runner.name) not in units:
            key = (runner.repo.lower(), frozenset(label.lower() for label in runner.labels))
            pending[key][runner.name] = (int(match[1]), int(match[2]))
    for key in sorted({*demand, *before, *idle}, key=lambda k: (k[0], sorted(k[1]))):
        jobs, spare = demand.get(key, {}), idle.get(key, [])
        wanted = max(len(jobs), len(before.get(key, {})))
        report.append(Demand(key[0], tuple(sorted(key[1])), len(jobs), len(spare)))
        actions += _balance(jobs, spare, wanted, pending[key], tries, policy, now, gave_up)
    return Plan(tuple(actions), tuple(report), busy, tuple(gave_up))


def _demand(
    listing: Iterable[QueuedJob], repos: frozenset[str], policy: Policy
) -> dict[_Key, dict[tuple[int, int], tuple[QueuedJob, Dispatch]]]:
    """Queued jobs the webhook path would serve, by (repo, labels) and then (job, attempt)."""
    demand: dict[_Key, dict[tuple[int, int], tuple[QueuedJob, Dispatch]]] = defaultdict(dict)
    for job in listing:
        event = job.event
        repo = event.repo_full_name.lower()
        decision = decide(event, policy)
        if repo in repos and isinstance(decision, Dispatch):
            key = (repo, frozenset(label.lower() for label in event.labels))
            demand[key][(event.job_id, event.run_attempt)] = (job, decision)
    return demand


def _units(observation: Observation, policy: Policy) -> dict[tuple[str, str], _Unit]:
    """Our children and runners in the observed repositories, joined by runner name."""
    parents = {pool.nomad_job for pool in policy.pools}
    units: dict[tuple[str, str], _Unit] = {}

    def unit(repo: str, name: str) -> _Unit | None:
        match = _NAME.fullmatch(name)
        if match is None or repo not in observation.repos:
            return None
        job, attempt, retry = match.groups()
        found = units.setdefault(
            (repo, name), _Unit(repo, name, (int(job), int(attempt)), int(retry or 0))
        )
        return found

    for child in observation.children:
        meta = child.meta
        if child.parent_id not in parents or meta.get(MANAGED_BY_KEY) != MANAGED_BY:
            continue
        found = unit(meta.get("REPO_FULL_NAME", "").lower(), meta.get("RUNNER_NAME", ""))
        if found is None or meta.get("GITHUB_JOB_ID") != str(found.job[0]):
            continue
        # Two children for one name cannot come from us (the name is the idempotency token);
        # keep the live one if there is one.
        if found.child is None or (child.live and not found.child.live):
            found.child = child
    for runner in observation.runners:
        found = unit(runner.repo.lower(), runner.name)
        if found is not None:
            found.runner = runner
    return units


def _unit_key(unit: _Unit, queued: Mapping[tuple[int, int], _Key]) -> _Key:
    """The label set a unit serves: its child's RUNNER_LABELS, else its job's, else GitHub's."""
    if unit.child is not None:
        labels: Iterable[str] = unit.child.meta.get("RUNNER_LABELS", "").split(",")
    elif unit.job in queued:
        return queued[unit.job]
    else:
        labels = unit.runner.labels if unit.runner else ()
    return (unit.repo, frozenset(label.lower() for label in labels if label))


def _assess(unit: _Unit, policy: ReconcilePolicy) -> str:
    """The unit's state: "busy", "idle", "" (nothing to do), or why to retire it now."""
    runner, child = unit.runner, unit.child
    if runner is not None and runner.busy:
        return "busy"
    if child is not None and child.failed:
        return "allocation failed" if runner or child.live else ""
    if child is not None and not child.live:
        return "its Nomad job ended" if runner else ""
    if child is None:
        # A runner with no child: a dispatch in flight, or one that never will be (its process
        # died holding the credential). Ours in flight wait; another's get the idle grace.
        if unit.in_flight:
            return "idle"
        limit = policy.idle_grace if policy.runner_precreated else policy.boot_timeout
        return "no Nomad job" if unit.age >= limit else "idle"
    if runner is None:
        if policy.runner_precreated:  # the JIT runner was removed: its one job is done
            return "runner gone" if unit.age >= policy.idle_grace else ""
        return "never registered" if unit.age >= policy.boot_timeout else "idle"
    if runner.status != "online" and unit.age >= policy.boot_timeout:
        return "never connected"
    return "idle"


def _last_record(
    unit: _Unit,
    queued: Mapping[tuple[int, int], _Key],
    tries: Mapping[tuple[str, tuple[int, int]], int],
    policy: ReconcilePolicy,
) -> bool:
    """Whether this is a childless runner of a queued job out of retries, to be kept.

    Such a runner is the only record of its try: removing it would start the count again.
    GitHub removes a JIT runner that never connects by itself.
    """
    out_of_retries = tries[unit.repo, unit.job] >= policy.max_retries
    return unit.child is None and unit.job in queued and out_of_retries


def _retire(unit: _Unit, reason: str) -> Retire:
    child = unit.child if unit.child is not None and unit.child.live else None
    return Retire(
        repo=unit.repo,
        runner_name=unit.name,
        runner_id=unit.runner.id if unit.runner else None,
        child_id=child.id if child else None,
        reason=reason,
    )


def _balance(
    jobs: Mapping[tuple[int, int], tuple[QueuedJob, Dispatch]],
    idle: list[_Unit],
    wanted: int,
    pending: Mapping[str, tuple[int, int]],
    tries: Mapping[tuple[str, tuple[int, int]], int],
    policy: ReconcilePolicy,
    now: float,
    gave_up: list[str],
) -> list[Action]:
    """Dispatch or retire so that one label set's idle units match its queued jobs.

    `jobs` is the later listing (dispatch only for those); `wanted` the larger of both listings'
    counts, so that neither a job taken between two reads nor a new one leads to a retirement.
    """
    # Each queued job keeps its best own unit (online first, then the oldest); the rest is spare.
    own: dict[tuple[int, int], list[_Unit]] = defaultdict(list)
    for unit in idle:
        own[unit.job].append(unit)
    best = (min(own[job], key=lambda u: (not _online(u), u.retry)) for job in jobs if job in own)
    kept = {unit.name for unit in best}
    actions: list[Action] = []
    surplus = len(idle) - wanted
    if surplus > 0:
        spare = [u for u in idle if u.name not in kept and u.age >= policy.idle_grace]
        spare.sort(key=lambda u: (_online(u), u.name))
        for unit in spare[:surplus]:
            actions.append(_retire(unit, "no queued job for its labels"))
        return actions
    in_flight = set(pending.values())
    served = {job for job in jobs if job in own or job in in_flight}
    need = len(jobs) - len(idle) - len(pending)
    for job in sorted(jobs):
        if need <= 0:
            break
        queued, decision = jobs[job]
        if job in served:
            continue
        event = queued.event
        retry = tries.get((event.repo_full_name.lower(), job), -1) + 1
        if retry > policy.max_retries:
            gave_up.append(f"{event.repo_full_name}#{event.job_id}")
            continue
        fresh = queued.queued_at is not None and now - queued.queued_at < policy.dispatch_delay
        if retry == 0 and fresh:
            continue
        name = runner_name(event.job_id, event.run_attempt) + (f"-r{retry}" if retry else "")
        dispatch = replace(decision, runner_name=name, idempotency_token=name)
        reason = f"retry {retry}" if retry else "no runner (missed webhook?)"
        # The service drops a repeated (hook id, delivery id): make it one per runner name.
        event = replace(event, delivery_id=f"reconcile:{name}")
        actions.append(DispatchRunner(event=event, dispatch=dispatch, reason=reason))
        need -= 1
    return actions


def _online(unit: _Unit) -> bool:
    """Whether the unit's runner is connected to GitHub."""
    return unit.runner is not None and unit.runner.status == "online"
