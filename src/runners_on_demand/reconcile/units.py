"""Units: each runner of ours joined with its Nomad child by runner name, and what state it is in.

A unit is one runner we made: the GitHub runner and the Nomad child that share a runner name.
Only runners and children we can prove are ours become units (see plan.py's docstring). A unit
is keyed by where its runner is registered (`scope.RunnerScope.key`): its job's repository, or
for a pool with a runner group the organization. Pure.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from runners_on_demand.decision import Policy, runner_scope
from runners_on_demand.names import parse_runner_name
from runners_on_demand.observed import MANAGED_BY, MANAGED_BY_KEY, Child, Runner
from runners_on_demand.reconcile.model import Observation, ReconcilePolicy, RetireReason

__all__ = ["JobKey", "LabelKey", "Unit", "Verdict", "assess", "join_units"]

LabelKey = tuple[str, frozenset[str]]  # (scope key: repo or org, lower-case labels)
JobKey = tuple[int, int]  # (job id, run attempt)


class Verdict(enum.Enum):
    """A unit that stays: it runs a job, waits for one, or has nothing left to retire."""

    BUSY = "busy"
    IDLE = "idle"
    KEEP = "keep"


@dataclass(frozen=True)
class Unit:
    """A runner name's child and runner, as far as they are known."""

    repo: str
    name: str
    job: JobKey
    retry: int
    child: Child | None
    runner: Runner | None
    age: float  # since its child's SubmitTime, else its Variable's ModifyTime, else first seen
    key: LabelKey  # the label set it serves
    in_flight: bool  # a dispatch of this process holds its credential

    @property
    def online(self) -> bool:
        """Whether the unit's runner is connected to GitHub."""
        return self.runner is not None and self.runner.status == "online"


def join_units(
    observation: Observation, policy: Policy, queued: Mapping[JobKey, LabelKey]
) -> dict[tuple[str, str], Unit]:
    """Our children and runners in the observed scopes, joined by runner name."""
    # Pools sharing a Nomad job share their runner group too (pool_table.py checks it).
    pools = {pool.nomad_job: pool for pool in reversed(policy.pools)}
    children: dict[tuple[str, str], Child] = {}
    runners: dict[tuple[str, str], Runner] = {}

    def ours(repo: str, name: str) -> bool:
        return repo in observation.repos and parse_runner_name(name) is not None

    for found in observation.children:
        meta, pool = found.meta, pools.get(found.parent_id)
        if pool is None or meta.get(MANAGED_BY_KEY) != MANAGED_BY:
            continue
        repo = meta.get("REPO_FULL_NAME", "")
        where = (runner_scope(pool, repo).key, meta.get("RUNNER_NAME", ""))
        parsed = parse_runner_name(where[1])
        if not ours(*where) or repo.lower() not in observation.repos:
            continue
        if parsed is None or meta.get("GITHUB_JOB_ID") != str(parsed.job_id):
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
    stored = {var.path.rpartition("/")[2]: var.modify_time for var in observation.credentials}
    units: dict[tuple[str, str], Unit] = {}
    for where in {*children, *runners}:
        parsed = parse_runner_name(where[1])
        assert parsed is not None
        child, runner = children.get(where), runners.get(where)
        job = (parsed.job_id, parsed.run_attempt)
        born = child.submit_time if child else stored.get(where[1])
        born = observation.first_seen.get(where[1]) if born is None else born
        units[where] = Unit(
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
    job: JobKey,
    child: Child | None,
    runner: Runner | None,
    queued: Mapping[JobKey, LabelKey],
) -> LabelKey:
    """The label set a unit serves: its child's RUNNER_LABELS, else its job's, else GitHub's."""
    if child is not None:
        labels: Iterable[str] = child.meta.get("RUNNER_LABELS", "").split(",")
    elif job in queued:
        return (repo, queued[job][1])
    else:
        labels = runner.labels if runner else ()
    return (repo, frozenset(label.lower() for label in labels if label))


def assess(unit: Unit, policy: ReconcilePolicy) -> Verdict | RetireReason:
    """Whether the unit is busy, idle, to be left alone, or to be retired (and why)."""
    runner, child, settings = unit.runner, unit.child, policy.settings
    if runner is not None and runner.busy:
        return Verdict.BUSY
    if child is not None and child.failed:
        return RetireReason.ALLOCATION_FAILED if runner or child.live else Verdict.KEEP
    if child is not None and not child.live:
        return RetireReason.JOB_ENDED if runner else Verdict.KEEP
    if child is None:
        # A runner with no child: a dispatch in flight, or one that never will be (its process
        # died holding the credential). Ours in flight wait; another's get the idle grace.
        if unit.in_flight:
            return Verdict.IDLE
        limit = (
            settings.idle_grace_seconds
            if policy.runner_precreated
            else settings.boot_timeout_seconds
        )
        return RetireReason.NO_NOMAD_JOB if unit.age >= limit else Verdict.IDLE
    if runner is None:
        if policy.runner_precreated:  # the JIT runner was removed: its one job is done
            gone = unit.age >= settings.idle_grace_seconds
            return RetireReason.RUNNER_GONE if gone else Verdict.KEEP
        if unit.age >= settings.boot_timeout_seconds:
            return RetireReason.NEVER_REGISTERED
        return Verdict.IDLE
    if runner.status != "online" and unit.age >= settings.boot_timeout_seconds:
        return RetireReason.NEVER_CONNECTED
    return Verdict.IDLE
