"""The credential step: a runner's credential from GitHub, before its Nomad dispatch.

`RunnerCredentials` is the protocol the pipeline calls; `GitHubCredentials` implements it with
the REST endpoints of the repository, or of the organization for a pool with a runner group
(`decision.runner_scope`): a just-in-time runner configuration (generate-jitconfig) or a
registration token for `config.sh`. A second intake with its own way of making runners (the
scale-set listener's JIT configs) plugs in another implementation.
"""

from __future__ import annotations

import logging
from typing import Protocol

from runners_on_demand.bounded import BoundedSet
from runners_on_demand.config import CredentialMode
from runners_on_demand.contract import JitConfig, RunnerCredential, jitconfig_request
from runners_on_demand.decision import StartRunner, runner_scope
from runners_on_demand.errors import UpstreamError
from runners_on_demand.events import WorkflowJobEvent
from runners_on_demand.ports import GitHubPort, NomadPort, Removal, RunnerExists

__all__ = ["GitHubCredentials", "RunnerCredentials"]

log = logging.getLogger(__name__)


class RunnerCredentials(Protocol):
    """Makes the credential a runner starts with, and cleans up after one that went unused."""

    async def obtain(self, event: WorkflowJobEvent, start: StartRunner) -> RunnerCredential | None:
        """The runner's credential; None when an earlier try already made and dispatched it."""
        ...

    def abandoned(self, start: StartRunner, credential: RunnerCredential | None) -> None:
        """This process gave up dispatching `start` after `credential` was made (or not)."""
        ...

    async def unused(self, event: WorkflowJobEvent, credential: RunnerCredential) -> None:
        """Nomad already had a child for this runner: `credential` will not be used."""
        ...


class GitHubCredentials:
    """`RunnerCredentials` from GitHub's REST endpoints (JIT or registration token)."""

    def __init__(
        self,
        github: GitHubPort,
        nomad: NomadPort,
        *,
        mode: CredentialMode,
        runner_group_id: int,
        remembered: int,
    ) -> None:
        self._github = github
        self._nomad = nomad
        self._mode = mode
        self._runner_group_id = runner_group_id
        # Runners this process made and then gave up dispatching: it alone holds their credential.
        self._abandoned: BoundedSet[str] = BoundedSet(remembered)

    async def obtain(self, event: WorkflowJobEvent, start: StartRunner) -> RunnerCredential | None:
        """A JIT config or a registration token; see the 409 handling below."""
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
        if not isinstance(made, RunnerExists):
            self._abandoned.discard(start.runner_name)
            return made
        # 409: an earlier try made this runner. Only when that try was ours and gave up is the
        # runner unused for sure (no other process holds its credential): replace it, unless a
        # Nomad child carries it after all (a dispatch that timed out here but reached Nomad).
        # Otherwise a live try owns it (another replica, a concurrent delivery); if that owner
        # died, the reconciler replaces the runner after its idle grace.
        if made.name not in self._abandoned:
            return None
        children = await self._nomad.list_children(start.pool.nomad_job)
        if any(child.meta.get("RUNNER_NAME") == made.name for child in children):
            return None
        runner = await self._github.find_runner(owner, repo, made.name)
        if runner is not None and (
            runner.busy or await self._github.delete_runner(owner, repo, runner.id) is Removal.BUSY
        ):
            return None
        log.warning("runner %s: made earlier but never dispatched; making it again", made.name)
        made = await self._github.generate_jitconfig(
            owner, repo, body, installation_id=event.installation_id
        )
        if isinstance(made, RunnerExists):
            return None
        self._abandoned.discard(start.runner_name)
        return made

    def abandoned(self, start: StartRunner, credential: RunnerCredential | None) -> None:
        """Remember a JIT runner this process made but never handed to Nomad."""
        if isinstance(credential, JitConfig):
            self._abandoned.add(start.runner_name)

    async def unused(self, event: WorkflowJobEvent, credential: RunnerCredential) -> None:
        """Delete the JIT runner just made for a dispatch Nomad already had."""
        # Nomad answered with the existing child (same idempotency token), so the JIT runner made
        # for this try holds a credential nobody will use; left alone, the reconciler would
        # retire it later.
        if not isinstance(credential, JitConfig) or credential.runner_id is None:
            return
        owner, repo = credential.scope or (event.repo_owner, event.repo_name)
        try:
            await self._github.delete_runner(owner, repo, credential.runner_id)
        except UpstreamError as error:
            log.warning(
                "runner %d: could not remove the unused runner: %s", credential.runner_id, error
            )
