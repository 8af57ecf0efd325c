"""The credential step for `rod listen`: the scale set's JIT config (`generatejitconfig`).

`ScaleSetCredentials` implements the pipeline's `RunnerCredentials` protocol, so a listener's
runner goes through the same queue, workers, contract and Nomad dispatch as a webhook's. The JIT
config has the same shape as the REST one and the runner takes it the same way.

A 409 AgentExistsException means a runner of that name exists: an earlier try of this very
runner whose answer was lost (the names are new for every runner). `obtain` then answers None and
the pipeline dispatches it again if its credential Variable exists; if none does, nobody can hold
its credential, so `remake` (as ARC does, [A] ephemeralrunner_controller.go) removes it when it
belongs to this scale set and no Nomad child carries it, and makes it again.
"""

from __future__ import annotations

import logging

from runners_on_demand.contract import JitConfig, RunnerCredential
from runners_on_demand.decision import StartRunner
from runners_on_demand.errors import UpstreamError
from runners_on_demand.events import WorkflowJobEvent
from runners_on_demand.listen.client import ScaleSetClient
from runners_on_demand.listen.errors import AgentExists
from runners_on_demand.listen.fleet import Fleet
from runners_on_demand.ports import NomadPort

__all__ = ["ScaleSetCredentials"]

log = logging.getLogger(__name__)


class ScaleSetCredentials:
    """`RunnerCredentials` from the scale set the listener holds (`fleet`, set once it has one)."""

    def __init__(self, client: ScaleSetClient, nomad: NomadPort) -> None:
        self._client = client
        self._nomad = nomad
        self.fleet: Fleet | None = None

    def _fleet(self, start: StartRunner) -> Fleet:
        fleet = self.fleet
        if fleet is None or not fleet.mine(start.runner_name):
            # The scale set was made again (its id changed): this runner's prefix is stale.
            raise UpstreamError(
                f"runner {start.runner_name}: its scale set is gone", retryable=False
            )
        return fleet

    async def obtain(self, event: WorkflowJobEvent, start: StartRunner) -> RunnerCredential | None:
        """A JIT config of the scale set; None when a runner of that name exists (409)."""
        fleet = self._fleet(start)
        name = start.runner_name
        try:
            runner_id, encoded = await self._client.generate_jit_config(fleet.scale_set.id, name)
        except AgentExists:
            return None
        fleet.ids[name] = runner_id
        return JitConfig(encoded, runner_id)

    async def remake(self, event: WorkflowJobEvent, start: StartRunner) -> RunnerCredential | None:
        """Remove the existing runner of this name if ours and unheld, and make it again."""
        found = await self._client.find_runner(start.runner_name)
        if found is not None:
            if found[1] != self._fleet(start).scale_set.id:
                return None
            children = await self._nomad.list_children(start.pool.nomad_job)
            if any(child.meta.get("RUNNER_NAME") == start.runner_name for child in children):
                return None
            if not await self._client.remove_runner(found[0]):
                return None
        log.warning("runner %s: made earlier but never stored; making it again", start.runner_name)
        return await self.obtain(event, start)

    async def discard(self, event: WorkflowJobEvent, start: StartRunner) -> bool:
        """Remove the runner called `start.runner_name` unless it runs a job."""
        found = await self._client.find_runner(start.runner_name)
        return found is None or await self._client.remove_runner(found[0])

    def abandoned(self, start: StartRunner, credential: RunnerCredential | None) -> None:
        """The pipeline gave up on a runner it had made: the listener removes it later."""
        fleet = self.fleet
        if fleet is not None and isinstance(credential, JitConfig) and credential.runner_id:
            fleet.leftovers.append(credential.runner_id)
