"""Carrying out one decided runner: contract, credential, its Nomad Variable, dispatch.

The pipeline (pipeline.py) decides and queues; a `Carrier` does the upstream work of each runner
a worker takes. `LocalCarrier` does it on the caller's event loop; `rod serve` runs one in a
process of its own (dispatch_process.py) so that the webhook intake never shares a core with it.
Every upstream call retries with backoff while the error is retryable; a Nomad validation error
or a contract breach is logged loudly and not retried; a spent GitHub rate limit is raised for
the pipeline to hold the runner, and so is a runner job Nomad cannot dispatch from (missing,
stopped, not parameterized), for the pipeline to park the runner until it can.

Theory of the credential (issue 10, items 1 and 3). The runner's credential is stored in the
Nomad Variable `nomad/jobs/<runner job>/credentials/<runner name>` before the dispatch, and the
dispatch carries none; the child's template reads the Variable when its task is about to start.
The runner name is unique on GitHub (generate-jitconfig answers 409 for a second one) and is
also the idempotency token, so for one name there is at most one runner, at most one child, and
one Variable, which always holds the credential of the runner that exists (a fresh JIT config
means any older runner of that name is gone, so overwriting its Variable takes nothing from
anyone). Hence:

- Nomad answering "already dispatched" (a try that timed out after Nomad committed it, another
  replica, a restart) never leads to deleting the runner: the existing child renders the
  Variable, and so runs the runner we just made or stored, however the answers interleaved. A
  retry that made a new JIT runner has overwritten the Variable before its dispatch, so an
  existing child that has not rendered yet gets the new credential, whose runner is kept; one
  that rendered already holds the older credential, whose runner is gone for good, and fails
  fast (the reconciler then replaces it). Deleting here would only ever break a child.
- A runner that exists when a try starts (generate-jitconfig's 409) is dispatched again when
  its Variable exists: an earlier try (this process before a timeout, a replica, a process that
  was killed) stored its credential, so the child starts that very runner, and the idempotency
  token keeps it to one child. Without a Variable, no child can ever hold its credential: only
  if this process made it and gave up before storing it (`RunnerCredentials.remake`) is it
  removed and made again; otherwise a live try owns it, or a dead one, which the reconciler
  retires after the idle grace.
- The Variable is destroyed once it is used (GitHub lists the runner online or busy, or its JIT
  runner is gone) or can no longer be (the child is dead, or no child came in time): by the
  reconciler for `rod serve`'s runners (reconcile/stored.py), by the listener's sweep for its own
  (listen/fleet.py). With the reconciler off, `rod serve`'s stay until it runs again.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from runners_on_demand.backoff import Retrier
from runners_on_demand.contract import (
    RunnerCredential,
    build_dispatch,
    credential_items,
    credential_path,
)
from runners_on_demand.credentials import RunnerCredentials
from runners_on_demand.decision import StartRunner
from runners_on_demand.errors import (
    ContractError,
    GitHubRateLimited,
    NomadError,
    NomadRejected,
    RunnerJobMissing,
    UpstreamError,
)
from runners_on_demand.events import WorkflowJobEvent
from runners_on_demand.ports import NomadPort, VariableConflict

__all__ = ["Carried", "Carrier", "LocalCarrier", "Outcome"]

log = logging.getLogger(__name__)
T = TypeVar("T")


class Outcome(enum.StrEnum):
    """How a worker finished a runner; the `outcome` label of `rod_dispatches_total`."""

    DISPATCHED = "dispatched"
    EXISTING = "existing"  # Nomad already had a child with this idempotency token
    RUNNER_EXISTS = "runner_exists"  # another try holds this runner (generate-jitconfig 409)
    WITHDRAWN = "withdrawn"  # its job ended before a worker took it
    REJECTED = "rejected"  # Nomad refused it as invalid, or the contract would break
    FAILED = "failed"  # upstreams kept failing until the backoff gave up
    ERROR = "error"  # a bug (logged with its traceback), or the dispatch process gone


@dataclass(frozen=True)
class Carried:
    """How a runner was carried out, and its Nomad child when it reached Nomad."""

    outcome: Outcome
    child: str | None = None


class Carrier(Protocol):
    """The upstream work of the runners the pipeline's workers take."""

    async def carry_out(self, event: WorkflowJobEvent, start: StartRunner) -> Carried:
        """Credential, Variable, dispatch; GitHubRateLimited when GitHub's limit is spent,
        RunnerJobMissing when Nomad cannot dispatch from the pool's runner job."""
        ...

    async def remove(self, event: WorkflowJobEvent, start: StartRunner, child: str) -> None:
        """Remove an ended job's runner unless it runs a job, then stop its child."""
        ...


class LocalCarrier:
    """A `Carrier` on the caller's event loop, over the credential step and the Nomad port."""

    def __init__(
        self, credentials: RunnerCredentials, nomad: NomadPort, retrier: Retrier | None = None
    ) -> None:
        self._credentials = credentials
        self._nomad = nomad
        self._retrier = retrier or Retrier()

    async def remove(self, event: WorkflowJobEvent, start: StartRunner, child: str) -> None:
        """Remove the ended job's own runner unless it runs a job, then stop its child."""
        where = f"job {event.job_id} repo {event.repo_full_name} ended with no runner"
        try:
            if await self._call(where, lambda: self._credentials.discard(event, start)):
                await self._call(where, lambda: self._nomad.stop_job(child))
                log.info("%s: removed %s and stopped %s", where, start.runner_name, child)
        except UpstreamError as error:  # the reconciler retires what is left
            log.warning("%s: could not remove %s: %s", where, start.runner_name, error)

    async def _call(self, where: str, call: Callable[[], Awaitable[T]]) -> T:
        """An upstream call with retries; a spent rate limit is not waited out here but held."""
        return await self._retrier.run(where, call, passes=(GitHubRateLimited,))

    async def carry_out(self, event: WorkflowJobEvent, start: StartRunner) -> Carried:
        """Contract, credential, its Variable, dispatch (see the module docstring)."""
        where = f"runner {start.runner_name} job {event.job_id} repo {event.repo_full_name}"
        credential: RunnerCredential | None = None
        stored = False
        try:
            request = build_dispatch(event, start)  # before any call: nothing left behind
            path = credential_path(start)
            credential = await self._call(where, lambda: self._credentials.obtain(event, start))
            if credential is None and not await self._call(where, lambda: self._stored(path)):
                credential = await self._call(where, lambda: self._credentials.remake(event, start))
                if credential is None:
                    log.info("%s: made by another try (generate-jitconfig 409)", where)
                    return Carried(Outcome.RUNNER_EXISTS)
            if credential is not None:
                made = credential
                await self._call(where, lambda: self._store(path, made))
                stored = True
            result = await self._call(where, lambda: self._nomad.dispatch(request))
        except (GitHubRateLimited, RunnerJobMissing):
            raise  # for the pipeline to hold the runner (a stored credential is used later)
        except (NomadRejected, ContractError) as error:
            log.error("%s: REJECTED, not retried: %s", where, error)
            return Carried(Outcome.REJECTED)
        except UpstreamError as error:
            log.error("%s: FAILED, gave up: %s", where, error)
            if not stored:
                self._credentials.abandoned(start, credential)
            return Carried(Outcome.FAILED)
        if result.existing:
            # Never delete the runner here: the existing child reads the Variable (docstring).
            log.info("%s: Nomad already has %s", where, result.dispatched_job_id)
            return Carried(Outcome.EXISTING, result.dispatched_job_id)
        log.info("%s: dispatched %s eval %s", where, result.dispatched_job_id, result.eval_id)
        return Carried(Outcome.DISPATCHED, result.dispatched_job_id)

    async def _stored(self, path: str) -> bool:
        """Whether a Variable at `path` exists (listed: the dispatcher may not read it)."""
        return any(found.path == path for found in await self._nomad.list_variables(path))

    async def _store(self, path: str, credential: RunnerCredential) -> None:
        """Create the credential's Variable, or replace the one an earlier try left."""
        items = credential_items(credential)
        written = await self._nomad.put_variable(path, items, cas=0)
        if isinstance(written, VariableConflict):
            # Its runner is gone (see the module docstring): the fresh credential replaces it.
            log.info("%s: replacing the credential an earlier try stored", path)
            index = written.current.modify_index
            if isinstance(await self._nomad.put_variable(path, items, cas=index), VariableConflict):
                raise NomadError(f"Nomad PUT /v1/var/{path}: changed meanwhile", status=409)
