"""In-memory implementations of the ports (`GitHubPort`, `NomadPort`) for unit tests.

They implement the protocols; nothing here inherits live HTTP code. Each records the calls the
core made, in order, in `calls`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from runners_on_demand.config import ServerSettings
from runners_on_demand.contract import DispatchRequest, JitConfig, RegistrationToken
from runners_on_demand.credentials import GitHubCredentials
from runners_on_demand.decision import Policy
from runners_on_demand.errors import NomadError
from runners_on_demand.metrics import Metrics
from runners_on_demand.observed import Child, QueuedJob, Runner
from runners_on_demand.pipeline import Pipeline
from runners_on_demand.ports import (
    DispatchResult,
    GitHubPort,
    NomadPort,
    Removal,
    RunnerExists,
    VariableConflict,
    VariableMeta,
)


class FakeGitHub:
    """`GitHubPort` over dicts keyed by "owner/repo"."""

    def __init__(self) -> None:
        self.jobs: dict[str, list[QueuedJob]] = {}
        self.runners: dict[str, list[Runner]] = {}
        self.failures: dict[str, Exception] = {}
        self.busy_on_delete: set[int] = set()
        self.calls: list[tuple[str, Any]] = []
        self.after_listing_runners: Callable[[], Awaitable[None]] | None = None
        self.rate_limit_remaining: int | None = None

    async def generate_jitconfig(
        self, owner: str, repo: str, body: Mapping[str, Any], *, installation_id: int | None = None
    ) -> JitConfig | RunnerExists:
        self.calls.append(("generate_jitconfig", body["name"]))
        if any(r.name == body["name"] for r in self.runners.get(f"{owner}/{repo}", [])):
            return RunnerExists(body["name"])  # 409: runner names are unique
        return JitConfig(encoded="e30=")

    async def create_registration_token(
        self, owner: str, repo: str, *, installation_id: int | None = None
    ) -> RegistrationToken:
        self.calls.append(("create_registration_token", f"{owner}/{repo}"))
        return RegistrationToken("registration-token")

    async def list_queued_jobs(self, owner: str, repo: str) -> list[QueuedJob]:
        self.calls.append(("list_queued_jobs", f"{owner}/{repo}"))
        if f"{owner}/{repo}" in self.failures:
            raise self.failures[f"{owner}/{repo}"]
        return self.jobs.get(f"{owner}/{repo}", [])

    async def list_runners(self, owner: str, repo: str) -> list[Runner]:
        self.calls.append(("list_runners", f"{owner}/{repo}"))
        listed = list(self.runners.get(f"{owner}/{repo}", []))
        if self.after_listing_runners is not None:
            await self.after_listing_runners()
        return listed

    async def find_runner(self, owner: str, repo: str, name: str) -> Runner | None:
        self.calls.append(("find_runner", name))
        return next((r for r in self.runners.get(f"{owner}/{repo}", []) if r.name == name), None)

    async def delete_runner(self, owner: str, repo: str, runner_id: int) -> Removal:
        self.calls.append(("delete_runner", runner_id))
        if runner_id in self.busy_on_delete:
            return Removal.BUSY
        before = self.runners.get(f"{owner}/{repo}", [])
        self.runners[f"{owner}/{repo}"] = [r for r in before if r.id != runner_id]
        gone = len(before) == len(self.runners[f"{owner}/{repo}"])
        return Removal.GONE if gone else Removal.REMOVED

    async def check(self) -> None:
        self.calls.append(("check", None))


class FakeNomad:
    """`NomadPort` over a list of children and a dict of Variables."""

    def __init__(self) -> None:
        self.children: list[Child] = []
        self.down = False
        self.calls: list[tuple[str, Any]] = []
        self.dispatched: list[DispatchRequest] = []
        self.variables: dict[str, tuple[VariableMeta, dict[str, str]]] = {}
        self.index = 0

    async def dispatch(self, request: DispatchRequest) -> DispatchResult:
        self.calls.append(("dispatch", request.idempotency_token))
        self.dispatched.append(request)
        return DispatchResult(f"{request.job_id}/dispatch-x", "eval", existing=False)

    async def list_children(self, parent: str) -> list[Child]:
        self.calls.append(("list_children", parent))
        if self.down:
            raise NomadError("Nomad GET /v1/jobs: ConnectError")
        return [c for c in self.children if c.parent_id == parent]

    async def stop_job(self, job_id: str) -> None:
        self.calls.append(("stop_job", job_id))

    async def health(self) -> None:
        self.calls.append(("health", None))

    async def put_variable(
        self, path: str, items: Mapping[str, str], *, cas: int | None = None
    ) -> VariableMeta | VariableConflict:
        self.calls.append(("put_variable", path))
        current = self.variables.get(path)
        if cas is not None and cas != (current[0].modify_index if current else 0):
            zero = VariableMeta(path, 0, 0.0)
            return VariableConflict(current[0] if current else zero)
        self.index += 1
        meta = VariableMeta(path, self.index, float(self.index))
        self.variables[path] = (meta, dict(items))
        return meta

    async def delete_variable(self, path: str) -> None:
        self.calls.append(("delete_variable", path))
        self.variables.pop(path, None)

    async def list_variables(self, prefix: str) -> list[VariableMeta]:
        self.calls.append(("list_variables", prefix))
        if self.down:
            raise NomadError("Nomad GET /v1/vars: ConnectError")
        found = sorted(self.variables.items())
        return [meta for path, (meta, _) in found if path.startswith(prefix)]


def pipeline(
    github: GitHubPort,
    nomad: NomadPort,
    *,
    metrics: Metrics | None = None,
    policy: Policy | None = None,
    on_repo: Callable[[str], None] = lambda full_name: None,
    **server: Any,
) -> Pipeline:
    """A pipeline making JIT runners through `github` and dispatching through `nomad`."""
    settings = ServerSettings(**{"workers": 1, **server})
    credentials = GitHubCredentials(
        github, mode="jit", runner_group_id=1, remembered=settings.dedup_size
    )
    return Pipeline(
        credentials,
        nomad,
        policy=policy or Policy(),
        settings=settings,
        metrics=metrics or Metrics(),
        on_repo=on_repo,
    )
