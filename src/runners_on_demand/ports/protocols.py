"""The ports: exactly the calls the core makes of GitHub and of Nomad, as `typing.Protocol`s.

The httpx adapters (`github.GitHubHttp`, `nomad.NomadHttp`) implement them; unit tests plug in
fakes that implement the same protocols. The answers are the shared types of `observed.py` and
`contract.py`, plus the small results below.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from runners_on_demand.contract import DispatchRequest, JitConfig, RegistrationToken
from runners_on_demand.observed import Child, QueuedJob, Runner

__all__ = [
    "DispatchResult",
    "GitHubPort",
    "NomadPort",
    "Removal",
    "RunnerExists",
    "VariableConflict",
    "VariableMeta",
]


@dataclass(frozen=True)
class RunnerExists:
    """generate-jitconfig answered 409: a runner with this name was already made."""

    name: str


class Removal(enum.StrEnum):
    """What `DELETE .../actions/runners/{id}` did: 204, 404 or 422 (the runner runs a job)."""

    REMOVED = "removed"
    GONE = "gone"
    BUSY = "busy"


@dataclass(frozen=True)
class DispatchResult:
    """Nomad's answer to a dispatch; `existing` when the idempotency token matched a child."""

    dispatched_job_id: str
    eval_id: str
    # Nomad answers EvalID "" when the token matched an existing child (state_store.go
    # CheckIdempotencyToken) -- and also for a parent that is periodic, which ours is not.
    existing: bool


@dataclass(frozen=True)
class VariableMeta:
    """A Nomad Variable's metadata, as `GET /v1/vars` lists it (never its items)."""

    path: str
    modify_index: int
    modify_time: float  # seconds since the epoch


@dataclass(frozen=True)
class VariableConflict:
    """A check-and-set write lost: the Variable exists (or changed) as `current` shows."""

    current: VariableMeta


class GitHubPort(Protocol):
    """GitHub's REST API as the core uses it: runner credentials, listings, removals."""

    @property
    def rate_limit_remaining(self) -> int | None:
        """`x-ratelimit-remaining` of the latest answer; None before the first."""
        ...

    async def generate_jitconfig(
        self, owner: str, repo: str, body: Mapping[str, Any], *, installation_id: int | None = None
    ) -> JitConfig | RunnerExists:
        """`POST /repos/{owner}/{repo}/actions/runners/generate-jitconfig`."""
        ...

    async def create_registration_token(
        self, owner: str, repo: str, *, installation_id: int | None = None
    ) -> RegistrationToken:
        """`POST /repos/{owner}/{repo}/actions/runners/registration-token`."""
        ...

    async def list_queued_jobs(self, owner: str, repo: str) -> list[QueuedJob]:
        """The repository's queued jobs (latest attempts of queued and in-progress runs)."""
        ...

    async def list_runners(self, owner: str, repo: str) -> list[Runner]:
        """The repository's self-hosted runners."""
        ...

    async def find_runner(self, owner: str, repo: str, name: str) -> Runner | None:
        """The repository's runner called `name`, asked afresh."""
        ...

    async def delete_runner(self, owner: str, repo: str, runner_id: int) -> Removal:
        """Remove a runner unless it runs a job."""
        ...

    async def check(self) -> None:
        """Raise `GitHubError` unless GitHub answers and accepts the credentials."""
        ...


class NomadPort(Protocol):
    """Nomad's HTTP API as the core uses it: dispatch, children, health, credential Variables."""

    async def dispatch(self, request: DispatchRequest) -> DispatchResult:
        """`POST /v1/job/{job}/dispatch?idempotency_token=...`."""
        ...

    async def list_children(self, parent: str) -> list[Child]:
        """The dispatched children of `parent`, with their Meta."""
        ...

    async def stop_job(self, job_id: str) -> None:
        """`DELETE /v1/job/{id}` without purge."""
        ...

    async def health(self) -> None:
        """Raise `NomadError` unless the agent answers."""
        ...

    async def put_variable(
        self, path: str, items: Mapping[str, str], *, cas: int | None = None
    ) -> VariableMeta | VariableConflict:
        """`PUT /v1/var/{path}[?cas=N]`: create (cas 0) or replace a Variable."""
        ...

    async def delete_variable(self, path: str) -> None:
        """`DELETE /v1/var/{path}`; a Variable that is not there is no error."""
        ...

    async def list_variables(self, prefix: str) -> list[VariableMeta]:
        """`GET /v1/vars?prefix=...`: the Variables under `prefix` (metadata only)."""
        ...
