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
from runners_on_demand.scope import RunnerGroup

__all__ = [
    "AclToken",
    "DispatchResult",
    "GitHubPort",
    "ListedJob",
    "NomadPort",
    "Removal",
    "RunnerExists",
    "Variable",
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
class ListedJob:
    """A job as `GET /v1/jobs` lists it (a `JobListStub`): what a dispatch to it depends on."""

    id: str
    type: str  # "batch", "service", "system", "sysbatch"
    parameterized: bool  # a parameterized parent (not one of its dispatched children)
    stop: bool  # stopped (`nomad job stop` without -purge): dispatch refuses it


@dataclass(frozen=True)
class AclToken:
    """`GET /v1/acl/token/self`: the token's type, its policies and the IDs of its roles."""

    type: str  # "client" or "management"
    policies: tuple[str, ...] = ()
    role_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class VariableMeta:
    """A Nomad Variable's metadata, as `GET /v1/vars` lists it (never its items)."""

    path: str
    modify_index: int
    modify_time: float  # seconds since the epoch


@dataclass(frozen=True)
class Variable:
    """A Nomad Variable as `GET /v1/var/{path}` returns it: metadata and items."""

    meta: VariableMeta
    items: Mapping[str, str]


@dataclass(frozen=True)
class VariableConflict:
    """A check-and-set write lost: the Variable exists (or changed) as `current` shows."""

    current: VariableMeta


class GitHubPort(Protocol):
    """GitHub's REST API as the core uses it: runner credentials, listings, removals.

    The runner calls take `owner, repo` for a repository's runners and `owner, None` for an
    organization's (a `scope.RunnerScope` unpacks to these).
    """

    @property
    def rate_limit_remaining(self) -> int | None:
        """`x-ratelimit-remaining` of the latest answer; None before the first."""
        ...

    async def generate_jitconfig(
        self,
        owner: str,
        repo: str | None,
        body: Mapping[str, Any],
        *,
        installation_id: int | None = None,
    ) -> JitConfig | RunnerExists:
        """`POST /repos/{owner}/{repo}/actions/runners/generate-jitconfig` (or `/orgs/{owner}`)."""
        ...

    async def create_registration_token(
        self, owner: str, repo: str | None, *, installation_id: int | None = None
    ) -> RegistrationToken:
        """`POST /repos/{owner}/{repo}/actions/runners/registration-token` (or `/orgs/...`)."""
        ...

    async def list_queued_jobs(self, owner: str, repo: str) -> list[QueuedJob]:
        """The repository's queued jobs (latest attempts of queued and in-progress runs)."""
        ...

    async def list_runners(self, owner: str, repo: str | None) -> list[Runner]:
        """The repository's (or organization's) self-hosted runners."""
        ...

    async def find_runner(self, owner: str, repo: str | None, name: str) -> Runner | None:
        """The runner called `name`, asked afresh."""
        ...

    async def delete_runner(self, owner: str, repo: str | None, runner_id: int) -> Removal:
        """Remove a runner unless it runs a job."""
        ...

    async def list_runner_groups(self, org: str) -> list[RunnerGroup]:
        """The organization's runner groups, with the repositories of the `selected` ones."""
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

    async def find_job(self, job_id: str) -> ListedJob | None:
        """The job `job_id` as `GET /v1/jobs` lists it (list-jobs only); None if not registered."""
        ...

    async def health(self) -> None:
        """Raise `NomadError` unless the agent answers."""
        ...

    async def acl_token_self(self) -> AclToken | None:
        """`GET /v1/acl/token/self`; None when Nomad's ACLs are off (400 `ACL support disabled`)."""
        ...

    async def acl_policy_rules(self, name: str) -> Mapping[str, Any] | None:
        """`GET /v1/acl/policy/{name}`: its `RulesJSON`, or None if the server sends none."""
        ...

    async def acl_role_policies(self, role_id: str) -> tuple[str, ...]:
        """`GET /v1/acl/role/{id}`: the names of the role's policies."""
        ...

    async def put_variable(
        self, path: str, items: Mapping[str, str], *, cas: int | None = None
    ) -> VariableMeta | VariableConflict:
        """`PUT /v1/var/{path}[?cas=N]`: create (cas 0) or replace a Variable."""
        ...

    async def read_variable(self, path: str) -> Variable | None:
        """`GET /v1/var/{path}`: the Variable with its items; None when there is none (404)."""
        ...

    async def delete_variable(self, path: str) -> None:
        """`DELETE /v1/var/{path}`; a Variable that is not there is no error."""
        ...

    async def list_variables(self, prefix: str) -> list[VariableMeta]:
        """`GET /v1/vars?prefix=...`: the Variables under `prefix` (metadata only)."""
        ...
