"""The credential step: a runner's credential from GitHub, before it is stored and dispatched.

`RunnerCredentials` is the protocol the pipeline calls; `GitHubCredentials` implements it with
the REST endpoints of the repository, or of the organization for a pool with a runner group
(`decision.runner_scope`): a just-in-time runner configuration (generate-jitconfig) or a
registration token for `config.sh`. A second intake with its own way of making runners (the
scale-set listener's JIT configs) plugs in another implementation. The pipeline, not this step,
stores the credential in its Nomad Variable (see carrier.py for why no runner is ever deleted
once its credential is stored).
"""

from __future__ import annotations

import logging
from typing import Protocol

from runners_on_demand.bounded import BoundedSet
from runners_on_demand.config import CredentialMode
from runners_on_demand.contract import JitConfig, RunnerCredential, jitconfig_request
from runners_on_demand.decision import StartRunner, runner_scope
from runners_on_demand.events import WorkflowJobEvent
from runners_on_demand.ports import GitHubPort, Removal, RunnerExists

__all__ = ["GitHubCredentials", "RunnerCredentials"]

log = logging.getLogger(__name__)


class RunnerCredentials(Protocol):
    """Makes the credential a runner starts with; makes it again when the first one was lost."""

    async def obtain(self, event: WorkflowJobEvent, start: StartRunner) -> RunnerCredential | None:
        """The runner's credential; None when an earlier try already made this runner."""
        ...

    async def remake(self, event: WorkflowJobEvent, start: StartRunner) -> RunnerCredential | None:
        """Make the runner again if this process made it and lost its credential; else None."""
        ...

    def abandoned(self, start: StartRunner, credential: RunnerCredential | None) -> None:
        """This process gave up on `start` before `credential` (if any) was stored anywhere."""
        ...

    async def discard(self, event: WorkflowJobEvent, start: StartRunner) -> bool:
        """Remove the runner made for `start` unless it runs a job; True when it is gone."""
        ...


class GitHubCredentials:
    """`RunnerCredentials` from GitHub's REST endpoints (JIT or registration token)."""

    def __init__(
        self,
        github: GitHubPort,
        *,
        mode: CredentialMode,
        runner_group_id: int,
        remembered: int,
    ) -> None:
        self._github = github
        self._mode = mode
        self._runner_group_id = runner_group_id
        # JIT runners this process made and gave up on before their credential reached a Nomad
        # Variable: nothing can ever start them, so they may be removed and made again.
        self._abandoned: BoundedSet[str] = BoundedSet(remembered)

    async def obtain(self, event: WorkflowJobEvent, start: StartRunner) -> RunnerCredential | None:
        """A JIT config or a registration token; None on generate-jitconfig's 409."""
        owner, repo = runner_scope(start.pool, event.repo_full_name)
        if self._mode == "registration-token":
            return await self._github.create_registration_token(
                owner, repo, installation_id=event.installation_id
            )
        group = start.pool.group
        body = jitconfig_request(start, group.id if group else self._runner_group_id)
        made = await self._github.generate_jitconfig(
            owner, repo, body, installation_id=event.installation_id
        )
        if isinstance(made, RunnerExists):  # the name is unique: an earlier try made it
            return None
        self._abandoned.discard(start.runner_name)
        return made

    async def remake(self, event: WorkflowJobEvent, start: StartRunner) -> RunnerCredential | None:
        """Remove and make again a JIT runner this process abandoned; None for any other."""
        # Only this process's abandoned runners: their credential never left this process, so no
        # Nomad child can hold it. Any other runner belongs to a live try (another replica, a
        # concurrent delivery) or to a dead process; the reconciler retires those after the idle
        # grace. A busy runner took a job after all: leave it.
        name = start.runner_name
        if name not in self._abandoned or not await self.discard(event, start):
            return None
        log.warning("runner %s: made earlier but never stored; making it again", name)
        return await self.obtain(event, start)

    async def discard(self, event: WorkflowJobEvent, start: StartRunner) -> bool:
        """Remove the runner called `start.runner_name` unless it is busy (asked afresh)."""
        owner, repo = runner_scope(start.pool, event.repo_full_name)
        runner = await self._github.find_runner(owner, repo, start.runner_name)
        if runner is None:
            return True
        if runner.busy:
            return False
        return await self._github.delete_runner(owner, repo, runner.id) is not Removal.BUSY

    def abandoned(self, start: StartRunner, credential: RunnerCredential | None) -> None:
        """Remember a JIT runner this process made but never stored."""
        if isinstance(credential, JitConfig):
            self._abandoned.add(start.runner_name)
