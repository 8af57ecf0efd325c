"""What `rod reconcile` prints: the repositories served and why, what the tick found, planned and
did. Pure: the CLI (cli.py) gathers, this says it for people."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

from runners_on_demand.carrier import Outcome
from runners_on_demand.reconcile.act import ActionResult
from runners_on_demand.reconcile.act import Outcome as ActionOutcome
from runners_on_demand.reconcile.loop import Report
from runners_on_demand.reconcile.model import MakeRunner, Observation, Plan
from runners_on_demand.reconcile.repos import Served

__all__ = ["Serving", "describe"]

Heard = Mapping[str, tuple[str, float]]  # lower-case name -> (name, last heard): heard.py


@dataclass(frozen=True)
class Serving:
    """The served repositories (repos.py) and the state Variable (heard_variable.py) at a tick."""

    served: Mapping[str, Served]  # lower-case name -> why
    allows: Callable[[str], bool]  # the allowlist: only repositories it admits are read
    gone: Collection[str] = ()  # lower-case names GitHub answered 404 for
    state_path: str = ""  # "" for no state Variable
    held: Heard | None = None  # what the state Variable holds; None: it could not be read

    def lines(self, observation: Observation) -> list[str]:
        """The state Variable, then each served repository with why, and whether it was read."""
        now, held = observation.now, self.held or {}
        if not self.state_path:
            lines = ['state Variable: none ([reconcile] state_variable = "")']
        elif self.held is None:
            lines = [f"state Variable {self.state_path}: could not be read"]
        else:
            lines = [f"state Variable {self.state_path}: {len(held)} repositories heard of"]
        for key, (name, at) in sorted(held.items()):
            if key not in self.served:
                off = "GitHub answers 404" if key in self.gone else "heard of too long ago"
                lines.append(f"  {name}: heard of {_ago(now - at)} ago; not served: {off}")
        lines.append("served:" if self.served else "served: none")
        for key, served in sorted(self.served.items()):
            why = ["configured"] if served.configured else []
            if key in held:
                why.append(f"heard of {_ago(now - held[key][1])} ago (state Variable)")
            elif served.heard_at is not None:
                why.append(f"heard of {_ago(now - served.heard_at)} ago")
            if served.by_child:
                why.append("named by a Nomad child")
            if key in observation.repos:
                read = ""
            else:
                read = "; not read" if self.allows(served.name) else "; refused by the allowlist"
            lines.append(f"  {served.name}: {', '.join(why)}{read}")
        return lines


def describe(
    report: Report,
    *,
    dry_run: bool = False,
    runner_jobs: Sequence[str] = (),
    serving: Serving | None = None,
    carried: Mapping[str, Outcome] | None = None,
) -> str:
    """What a tick found and did, for people; `runner_jobs`: why runner jobs cannot be dispatched
    (runner_jobs.py), each a problem; `carried`: how the runners it queued were carried out, by
    name, once the pipeline has stopped (`rod reconcile --once`)."""
    lines = [f"problem: {problem}" for problem in runner_jobs]
    observation, result = report.observation, report.plan
    for problem in report.problems:
        lines.append(f"could not read: {problem}")
    if observation is not None and result is not None:
        lines += serving.lines(observation) if serving else []
        repos = ", ".join(sorted(observation.repos)) or "none"
        lines.append(f"repositories: {repos}")
        lines.append(
            f"found: {len(observation.jobs)} queued jobs, {len(observation.children)} Nomad "
            f"children, {len(observation.runners)} runners ({result.busy} of ours busy), "
            f"{len(observation.credentials)} stored credentials"
        )
        lines += [
            f"  {d.repo} [{','.join(d.labels)}]: {d.queued} queued, {d.idle} idle runners"
            for d in result.demand
        ]
        lines += [f"gave up: {job} (out of retries)" for job in result.gave_up]
        in_order = not (report.problems or runner_jobs)
        lines += _done(report, result, dry_run, in_order=in_order, carried=carried)
    return "\n".join(lines)


def _done(
    report: Report,
    result: Plan,
    dry_run: bool,
    *,
    in_order: bool,
    carried: Mapping[str, Outcome] | None,
) -> list[str]:
    """One line per planned action, with what became of it."""
    if not result.actions and not result.destroy:  # "all in order": nothing unread or amiss
        return ["did: nothing; all in order" if in_order else "did: nothing"]
    results = {id(o.action): _result(o, carried) for o in report.outcomes}
    lines = ["would do:" if dry_run else "did:"]
    for action in result.actions:
        if isinstance(action, MakeRunner):
            what = f"dispatch {action.runner_name} for {action.event.repo_full_name}"
            what += f" job {action.event.job_id}"
        else:
            what = f"retire {action.runner_name} in {action.repo}"
        outcome = "" if dry_run else f": {results.get(id(action), 'not done')}"
        lines.append(f"  {what} ({action.reason}){outcome}")
    for spent in result.destroy:
        done = "destroyed" if spent.runner_name in report.destroyed else "not done"
        outcome = "" if dry_run else f": {done}"
        lines.append(
            f"  destroy the credential Variable of {spent.runner_name} ({spent.why}){outcome}"
        )
    return lines


def _result(outcome: ActionOutcome, carried: Mapping[str, Outcome] | None) -> str:
    """What became of an action; of a runner queued, also how the pipeline carried it out."""
    if carried is None or outcome.result is not ActionResult.QUEUED:
        return str(outcome)
    done = carried.get(outcome.action.runner_name)
    return f"{outcome}, then {done or 'not carried out'}"


def _ago(seconds: float) -> str:
    """A duration for people: 45s, 12m, 5h, 3d."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{max(0, int(seconds))}s"
