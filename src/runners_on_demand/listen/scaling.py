"""What the listener does about the count: make runners, retire the surplus, sweep the leftovers.

`Scaler.scale` applies fleet.py's plan: each new runner becomes a `WorkflowJobEvent` (intake
`listen`) and a `StartRunner` handed to the shared pipeline (credential, contract, Nomad
dispatch); each surplus runner is removed from GitHub (never a busy one: 400
JobStillRunningException) and its Nomad child stopped. `Scaler.sweep` compares the scope's
runners on GitHub with the pool's Nomad children: ours without a live child (made by a listener
that died before dispatching them) are removed, and so are runners that never came online; last,
the spent credential Variables of the fleet are destroyed (fleet.py). A sweep stops at GitHub's
first rate limit and says how long it asked to wait: "If you continue to make requests while you
are rate limited, your integration may be banned" (docs.github.com, rate limits for the REST API).
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from runners_on_demand.contract import credentials_prefix
from runners_on_demand.decision import Pool, StartRunner
from runners_on_demand.errors import GitHubRateLimited, UpstreamError
from runners_on_demand.events import Intake, Origin, WorkflowJobEvent
from runners_on_demand.listen.client import ScaleSetClient
from runners_on_demand.listen.fleet import Fleet, spent_credentials
from runners_on_demand.listen.metrics import ListenMetrics
from runners_on_demand.listen.protocol import JobEntry
from runners_on_demand.listen.settings import ListenSettings
from runners_on_demand.observed import Child, Runner
from runners_on_demand.pipeline import Admission, Pipeline
from runners_on_demand.ports import NomadPort

__all__ = ["Scaler"]

log = logging.getLogger(__name__)


class Scaler:
    """Keeps a fleet at the count its statistics ask for, through the pipeline."""

    def __init__(
        self,
        client: ScaleSetClient,
        nomad: NomadPort,
        pipeline: Pipeline,
        *,
        settings: ListenSettings,
        pool: Pool,
        metrics: ListenMetrics,
        clock: Callable[[], float] = time.time,
        suffix: Callable[[], str] = lambda: secrets.token_hex(4),
    ) -> None:
        self._client = client
        self._nomad = nomad
        self._pipeline = pipeline
        self._settings = settings
        self._pool = pool
        self._metrics = metrics
        self._clock = clock
        self._suffix = suffix

    async def scale(self, fleet: Fleet) -> None:
        """Make the missing runners and retire the idle surplus (fleet.py decides which)."""
        self._metrics.report(fleet.statistics)
        children = await self._children()
        if children is None:
            return
        plan = fleet.plan(children[0], children[1], self._clock())
        self._metrics.desired.set(plan.desired)
        self._metrics.runners.set(plan.current)
        if plan.create or plan.retire:
            log.info(
                "listener: %d runners wanted, %d counted: %d to make, %d to retire",
                plan.desired,
                plan.current,
                len(plan.create),
                len(plan.retire),
            )
        for entry in plan.create:
            self._submit(fleet, entry)
        for child in plan.retire:
            await _guarded(self._retire(fleet, child, "surplus"))
        while fleet.leftovers:
            runner_id = fleet.leftovers.pop()
            if await _guarded(self._client.remove_runner(runner_id)):
                self._metrics.retired.labels(reason="undispatched").inc()

    async def _children(self) -> tuple[list[Child], set[str]] | None:
        """The pool job's children and the runners the pipeline holds, taken before and after."""
        before = self._in_flight()
        try:
            children = await self._nomad.list_children(self._pool.nomad_job)
        except UpstreamError as error:
            log.warning("listener: cannot count runners: %s", error)
            return None
        return children, before | self._in_flight()

    def _in_flight(self) -> set[str]:
        return {pending.start.runner_name for pending in self._pipeline.in_flight()}

    def _submit(self, fleet: Fleet, entry: JobEntry | None) -> None:
        """Hand one new runner to the pipeline; a full queue is tried at the next evaluation."""
        name = fleet.new_name(self._suffix)
        event = self._event(name, entry)
        labels = fleet.scale_set.labels or self._settings.scale_set_labels
        start = StartRunner(pool=self._pool, runner_name=name, labels=labels)
        admission = self._pipeline.submit(event, start, received_at=self._pipeline.monotonic())
        if admission is Admission.QUEUED:
            fleet.made(name)
            self._metrics.queued.inc()
            log.info(
                "listener: runner %s queued (%s run %d)", name, event.repo_full_name, event.run_id
            )
        else:
            log.warning("listener: runner %s not queued: %s", name, admission.value)

    def _event(self, name: str, entry: JobEntry | None) -> WorkflowJobEvent:
        """The runner's event: the assignment it answers when known, else the scope alone.

        The protocol names no REST job id, so GITHUB_JOB_ID is 0; a runner of a scale set takes
        whichever job of its scale set comes first.
        """
        scope = self._client.scope
        owner, repo = (entry.owner, entry.repo) if entry else (scope.owner, scope.repo or "")
        return WorkflowJobEvent(
            origin=Origin(Intake.LISTEN, name),
            action="queued",
            job_id=0,
            run_id=entry.run_id if entry else 0,
            run_attempt=1,
            job_name=entry.display_name if entry else "",
            workflow_name=None,
            labels=self._settings.scale_set_labels,
            status="queued",
            conclusion=None,
            runner_id=None,
            runner_name=None,
            repo_full_name=f"{owner}/{repo}" if repo else owner,
            repo_owner=owner,
            repo_name=repo,
            repo_html_url=scope.html_url(owner, repo or None),
            fork=False,
            installation_id=None,
        )

    async def _retire(self, fleet: Fleet, child: Child, reason: str) -> None:
        """Remove an idle runner from GitHub (not a busy one), then stop its Nomad child."""
        name = child.meta.get("RUNNER_NAME", "")
        runner_id = fleet.ids.get(name)
        if runner_id is None:
            found = await self._client.find_runner(name)
            runner_id = found[0] if found else None
        if runner_id is not None and not await self._client.remove_runner(runner_id):
            fleet.busy.add(name)  # it took a job meanwhile: JobStillRunningException
            return
        await self._nomad.stop_job(child.id)
        self._metrics.retired.labels(reason=reason).inc()
        log.info("listener: retired runner %s (%s), stopped %s", name, reason, child.id)

    async def sweep(self, fleet: Fleet) -> float:
        """Remove our runners no live child carries, and those that never came online; destroy
        spent credential Variables. The seconds GitHub's rate limit asks to wait, else 0."""
        try:
            await self._sweep(fleet)
        except GitHubRateLimited as limited:
            log.warning("listener: sweep stopped: %s", limited)
            return limited.retry_after
        return 0.0

    async def _sweep(self, fleet: Fleet) -> None:
        before = self._in_flight()
        try:
            runners = [r for r in await self._client.list_runners() if fleet.mine(r.name)]
        except GitHubRateLimited:
            raise
        except UpstreamError as error:
            log.warning(
                "listener: cannot list the runners of %s: %s", self._client.scope.name, error
            )
            return
        children = await self._children()
        if children is None:
            return
        held = before | children[1]
        live = fleet.live(children[0])
        now, boot = self._clock(), self._settings.boot_timeout_seconds
        for runner in runners:
            child = live.get(runner.name)
            if runner.busy:
                fleet.busy.add(runner.name)
            elif runner.name in held:
                continue
            elif child is None:
                if await _guarded(self._client.remove_runner(runner.id)):
                    self._metrics.retired.labels(reason="orphan").inc()
                    log.info("listener: removed runner %s: no Nomad child runs it", runner.name)
            elif runner.status != "online" and now - child.submit_time > boot:
                await _guarded(self._retire(fleet, child, "boot_timeout"))
        registered = {runner.name for runner in runners}
        for name, child in live.items():
            late = now - child.submit_time > boot
            if late and name not in registered | held | fleet.done:
                await _guarded(self._nomad.stop_job(child.id))
                self._metrics.retired.labels(reason="no_runner").inc()
                log.info("listener: stopped %s: runner %s never registered", child.id, name)
        running = {c.meta.get("RUNNER_NAME", "") for c in children[0] if c.live}
        await _guarded(self._destroy_spent(fleet, runners, running, held, now))

    async def _destroy_spent(
        self, fleet: Fleet, runners: list[Runner], live: set[str], held: set[str], now: float
    ) -> None:
        """Destroy the listener runners' credential Variables nobody will read again."""
        stored = await self._nomad.list_variables(credentials_prefix(self._pool.nomad_job))
        boot = self._settings.boot_timeout_seconds
        spent = spent_credentials(fleet, stored, runners, live, held, now, boot)
        for variable in spent:
            await self._nomad.delete_variable(variable.path)
        if spent:
            log.info("listener: destroyed %d spent credential Variables", len(spent))


async def _guarded(step: Awaitable[Any]) -> Any:
    """One clean-up step; a failure is logged and left for the next evaluation or sweep, but a
    rate limit stops the steps after it (raised)."""
    try:
        return await step
    except GitHubRateLimited:
        raise
    except UpstreamError as error:
        log.warning("listener: %s", error)
        return None
