"""Runner credentials stored in Nomad Variables: which runners to dispatch again, which Variables
can go. Pure.

The pipeline stores each runner's credential in `nomad/jobs/<runner job>/credentials/<runner
name>` before dispatching its child (carrier.py); the child's template reads it once, when its
task is about to start.

A stored credential without a child, for a job still queued, is a dispatch that never happened
(its process was killed after storing, or gave up): `to_resume` dispatches that runner again
rather than letting it idle out its grace and making another (the idempotency token keeps it to
one child, whoever else tries).

Destroying a Variable too early would leave its task waiting for ever (the template blocks), so
`stale_credentials` lets one go only on evidence that nobody will read it again:
- its child is dead (or stopped): nothing renders its template any more;
- GitHub lists its runner online or busy (JIT), or at all (registration token: `config.sh`
  registered it): the task rendered the credential and used it;
- JIT, its child lives but its runner is gone from a repository read in full: the runner ran its
  job and was removed, or was retired;
- no child came within the idle grace: the job is no longer queued, or the runner was retired;
  only when its runner's scope was read in full this tick (its runner unlisted: every served
  scope), else its job may be queued still, and dispatching it again beats a retire and a retry;
- no child came in 48 hours, whatever was read: GitHub cancels a job queued that long.
A Variable of a runner this process has queued or is dispatching is never touched.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import replace

from runners_on_demand.decision import StartRunner, decide, runner_scope
from runners_on_demand.events import Intake, Origin
from runners_on_demand.names import parse_runner_name
from runners_on_demand.observed import MANAGED_BY, MANAGED_BY_KEY, Child, Runner
from runners_on_demand.ports.protocols import VariableMeta
from runners_on_demand.reconcile.model import MakeRunner, Observation, ReconcilePolicy
from runners_on_demand.tables import DAY

__all__ = ["stale_credentials", "to_resume"]

# GitHub cancels a self-hosted job queued for 24 hours, "in practice up to 48": no job still
# queued can want a runner whose credential was stored longer ago than that.
# https://docs.github.com/actions/reference/usage-limits-for-self-hosted-runners (job queue time)
QUEUE_LIMIT_SECONDS = 2 * DAY


def to_resume(
    variables: Iterable[VariableMeta],
    observation: Observation,
    policy: ReconcilePolicy,
    retired: Collection[str] = (),
) -> list[MakeRunner]:
    """Runners to dispatch again: stored, no child, not in flight, their job still queued.

    A JIT runner must still be there and idle; `retired` are names this tick retires.
    """
    children = _children(observation, policy)
    runners = {runner.name: runner for runner in observation.runners}
    skip = {pending.name for pending in observation.in_flight} | set(retired) | set(children)
    queued = {(job.event.job_id, job.event.run_attempt): job for job in observation.jobs}
    resumed: list[MakeRunner] = []
    for variable in variables:
        name = variable.path.rpartition("/")[2]
        parsed = parse_runner_name(name)
        runner = runners.get(name)
        if parsed is None or name in skip:
            continue
        if policy.runner_precreated and (runner is None or runner.busy):
            continue
        job = queued.get((parsed.job_id, parsed.run_attempt))
        decision = decide(job.event, policy.decision) if job else None
        if job is None or not isinstance(decision, StartRunner):
            continue
        event = replace(job.event, origin=Origin(Intake.RECONCILE, name))
        start = replace(decision, runner_name=name)
        resumed.append(MakeRunner(event, start, parsed.retry, stored=True))
    return resumed


def stale_credentials(
    variables: Iterable[VariableMeta], observation: Observation, policy: ReconcilePolicy
) -> list[tuple[VariableMeta, str]]:
    """Each credential Variable to destroy, with why; see the module docstring."""
    children = _children(observation, policy)
    runners = {runner.name: runner for runner in observation.runners}
    in_flight = {pending.name for pending in observation.in_flight}
    stale: list[tuple[VariableMeta, str]] = []
    for variable in variables:
        name = variable.path.rpartition("/")[2]
        if parse_runner_name(name) is None or name in in_flight:
            continue
        if why := _why(variable, children.get(name), runners.get(name), observation, policy):
            stale.append((variable, why))
    return stale


def _children(observation: Observation, policy: ReconcilePolicy) -> dict[str, Child]:
    """Our children by runner name; the live one when a name has two."""
    parents = {pool.nomad_job for pool in policy.decision.pools}
    children: dict[str, Child] = {}
    for child in observation.children:
        name = child.meta.get("RUNNER_NAME", "")
        if child.parent_id in parents and child.meta.get(MANAGED_BY_KEY) == MANAGED_BY:
            known = children.get(name)
            if known is None or (child.live and not known.live):
                children[name] = child
    return children


def _read(runner: Runner | None, observation: Observation) -> bool:
    """Whether a childless runner's scope was read in full: its listed runner's, else every one
    (the Variable does not say its repository)."""
    if runner is not None:
        return runner.repo.lower() in observation.repos
    return not observation.unread


def _why(
    variable: VariableMeta,
    child: Child | None,
    runner: Runner | None,
    observation: Observation,
    policy: ReconcilePolicy,
) -> str:
    """Why the Variable can go; empty while its child may still read it."""
    if runner is not None and (runner.status == "online" or runner.busy):
        return "its runner is online"
    if runner is not None and not policy.runner_precreated:
        return "its runner registered"
    if child is None:
        age = observation.now - variable.modify_time
        if age >= QUEUE_LIMIT_SECONDS:  # a scope failing to read for days keeps nothing
            return "no Nomad job came in 48 h"
        aged = age >= policy.settings.idle_grace_seconds
        return "no Nomad job came" if aged and _read(runner, observation) else ""
    if not child.live:
        return "its Nomad job ended"
    # Its runner's listing must have been read in full: the repository's, or for an org runner
    # the organization's (`runner_scope`, as units.py joins them).
    pools = {pool.nomad_job: pool for pool in reversed(policy.decision.pools)}
    pool = pools.get(child.parent_id)
    repo = child.meta.get("REPO_FULL_NAME", "")
    scope = runner_scope(pool, repo).key if pool is not None else repo.lower()
    if policy.runner_precreated and runner is None and scope in observation.repos:
        return "its runner is gone"
    return ""
