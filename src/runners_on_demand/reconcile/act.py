"""The reconciler's hands: carry a plan's actions out (the loop observes and plans: loop.py).

Retiring removes the GitHub runner first and stops the Nomad child only if that worked (GitHub
answers 422 for a busy runner, and then its child runs that job). New runners, and stored ones
dispatched again, go through the pipeline's own queue (`pipeline.Pipeline.submit`), with its
retries, behind the intakes' own. Spent credential Variables are destroyed last.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from runners_on_demand.errors import UpstreamError
from runners_on_demand.pipeline import Admission, Pipeline
from runners_on_demand.ports import GitHubPort, NomadPort, Removal
from runners_on_demand.reconcile.model import Action, Destroy, MakeRunner, Plan, Retire
from runners_on_demand.scope import RunnerScope

__all__ = ["ActionResult", "Actor", "Outcome"]

log = logging.getLogger(__name__)


class ActionResult(enum.StrEnum):
    """What became of one planned action; the `result` label of `rod_reconcile_actions_total`."""

    RETIRED = "retired"  # the runner removed (or gone) and its child stopped (or none left)
    BUSY = "busy"  # the runner took a job meanwhile: left alone
    QUEUED = "queued"
    DUPLICATE = "duplicate"  # the pipeline already has this runner in hand
    DEFERRED = "deferred"  # the pipeline's queue is busy or full: next tick
    FAILED = "failed"


@dataclass(frozen=True)
class Outcome:
    """What became of one planned action, with a detail for the log."""

    action: Action
    result: ActionResult
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.result}: {self.detail}" if self.detail else str(self.result)


class Actor:
    """Carries out a plan against GitHub, Nomad and the pipeline."""

    def __init__(self, github: GitHubPort, nomad: NomadPort, pipeline: Pipeline) -> None:
        self._github = github
        self._nomad = nomad
        self._pipeline = pipeline
        # Leave the intakes room in the pipeline's queue.
        self._submit_limit = max(1, pipeline.capacity // 2)

    async def carry_out(self, plan: Plan) -> tuple[list[Outcome], list[Destroy]]:
        """Retire, then dispatch, then destroy; what became of each action, and the Variables
        destroyed."""
        retire = [action for action in plan.actions if isinstance(action, Retire)]
        outcomes = [await self.retire(action) for action in retire]
        outcomes += [self.submit(a) for a in plan.actions if isinstance(a, MakeRunner)]
        return outcomes, await self.destroy(plan.destroy)

    async def retire(self, action: Retire) -> Outcome:
        """Remove the runner (busy: leave everything), then stop the child."""
        owner, repo = RunnerScope.parse(action.repo)
        try:
            runner_id = action.runner_id
            if runner_id is None and action.child_id is not None:
                # The list did not show a runner: ask again by name before stopping the child.
                found = await self._github.find_runner(owner, repo, action.runner_name)
                if found is not None and found.busy:
                    return Outcome(action, ActionResult.BUSY)
                runner_id = found.id if found else None
            done = []
            if runner_id is not None:
                removed = await self._github.delete_runner(owner, repo, runner_id)
                if removed is Removal.BUSY:  # 422: it took a job; its child runs that job
                    return Outcome(action, ActionResult.BUSY)
                done.append(f"runner {removed}")
            if action.child_id is not None:
                await self._nomad.stop_job(action.child_id)
                done.append("child stopped")
        except UpstreamError as error:
            return Outcome(action, ActionResult.FAILED, str(error))
        return Outcome(action, ActionResult.RETIRED, ", ".join(done) or "nothing left")

    def submit(self, action: MakeRunner) -> Outcome:
        """Queue the runner behind the intakes' own, leaving them room."""
        if self._pipeline.depth >= self._submit_limit:
            return Outcome(action, ActionResult.DEFERRED, "dispatch queue busy")
        admission = self._pipeline.submit(
            action.event, action.start, received_at=self._pipeline.monotonic()
        )
        if admission is Admission.FULL:
            return Outcome(action, ActionResult.DEFERRED, "dispatch queue full")
        queued = admission is Admission.QUEUED
        return Outcome(action, ActionResult.QUEUED if queued else ActionResult.DUPLICATE)

    async def destroy(self, spent: Iterable[Destroy]) -> list[Destroy]:
        """Destroy credential Variables nobody will read again, until one fails."""
        destroyed: list[Destroy] = []
        for variable in spent:
            try:
                await self._nomad.delete_variable(variable.variable.path)
            except UpstreamError as error:
                log.warning("reconcile: credential Variable %s: %s", variable.variable.path, error)
                break
            destroyed.append(variable)
        if destroyed:
            said = [f"{d.runner_name} ({d.why})" for d in destroyed[:5]]
            shown = ", ".join(said) + (", ..." if len(destroyed) > 5 else "")
            log.info("reconcile: destroyed %d credential Variables: %s", len(destroyed), shown)
        return destroyed
