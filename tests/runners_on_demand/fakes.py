"""In-memory implementations of the ports (`GitHubPort`, `NomadPort`) for unit tests.

They implement the protocols; nothing here inherits live HTTP code. Each records the calls the
core made, in order, in `calls`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from runners_on_demand.carrier import LocalCarrier
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
    Variable,
    VariableConflict,
    VariableMeta,
)
from runners_on_demand.ports.protocols import AclToken, ListedJob
from runners_on_demand.runner_job_hold import JobCheck
from runners_on_demand.scope import RunnerGroup, RunnerScope


class FakeGitHub:
    """`GitHubPort` over dicts keyed by "owner/repo" (or "org" for an organization's runners)."""

    def __init__(self) -> None:
        self.jobs: dict[str, list[QueuedJob]] = {}
        self.runners: dict[str, list[Runner]] = {}
        self.groups: dict[str, list[RunnerGroup]] = {}
        self.failures: dict[str, Exception] = {}
        self.busy_on_delete: set[int] = set()
        self.calls: list[tuple[str, Any]] = []
        self.after_listing_runners: Callable[[], Awaitable[None]] | None = None
        self.rate_limit_remaining: int | None = None

    async def generate_jitconfig(
        self,
        owner: str,
        repo: str | None,
        body: Mapping[str, Any],
        *,
        installation_id: int | None = None,
    ) -> JitConfig | RunnerExists:
        self.calls.append(("generate_jitconfig", body["name"]))
        if any(r.name == body["name"] for r in self.runners.get(str(RunnerScope(owner, repo)), [])):
            return RunnerExists(body["name"])  # 409: runner names are unique
        return JitConfig(encoded="e30=")

    async def create_registration_token(
        self, owner: str, repo: str | None, *, installation_id: int | None = None
    ) -> RegistrationToken:
        self.calls.append(("create_registration_token", str(RunnerScope(owner, repo))))
        return RegistrationToken("registration-token")

    async def list_queued_jobs(self, owner: str, repo: str) -> list[QueuedJob]:
        self.calls.append(("list_queued_jobs", f"{owner}/{repo}"))
        if f"{owner}/{repo}" in self.failures:
            raise self.failures[f"{owner}/{repo}"]
        return self.jobs.get(f"{owner}/{repo}", [])

    async def list_runners(self, owner: str, repo: str | None) -> list[Runner]:
        where = str(RunnerScope(owner, repo))
        self.calls.append(("list_runners", where))
        if where in self.failures:
            raise self.failures[where]
        listed = list(self.runners.get(where, []))
        if self.after_listing_runners is not None:
            await self.after_listing_runners()
        return listed

    async def find_runner(self, owner: str, repo: str | None, name: str) -> Runner | None:
        self.calls.append(("find_runner", name))
        listed = self.runners.get(str(RunnerScope(owner, repo)), [])
        return next((r for r in listed if r.name == name), None)

    async def delete_runner(self, owner: str, repo: str | None, runner_id: int) -> Removal:
        self.calls.append(("delete_runner", runner_id))
        if runner_id in self.busy_on_delete:
            return Removal.BUSY
        where = str(RunnerScope(owner, repo))
        before = self.runners.get(where, [])
        self.runners[where] = [r for r in before if r.id != runner_id]
        gone = len(before) == len(self.runners[where])
        return Removal.GONE if gone else Removal.REMOVED

    async def list_runner_groups(self, org: str) -> list[RunnerGroup]:
        self.calls.append(("list_runner_groups", org))
        if org in self.failures:
            raise self.failures[org]
        return list(self.groups.get(org, []))

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
        # the registered jobs by ID; the default pool's runner job unless a test says otherwise
        self.jobs = {"github-runner": ListedJob("github-runner", "batch", True, False)}

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

    async def find_job(self, job_id: str) -> ListedJob | None:
        self.calls.append(("find_job", job_id))
        if self.down:
            raise NomadError("Nomad GET /v1/jobs: ConnectError")
        return self.jobs.get(job_id)

    async def health(self) -> None:
        self.calls.append(("health", None))

    async def acl_token_self(self) -> AclToken | None:
        return None  # ACLs off

    async def acl_policy_rules(self, name: str) -> Mapping[str, Any] | None:
        raise NomadError("Nomad GET /v1/acl/policy: 400 ACL support disabled", status=400)

    async def acl_role_policies(self, role_id: str) -> tuple[str, ...]:
        raise NomadError("Nomad GET /v1/acl/role: 400 ACL support disabled", status=400)

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

    async def read_variable(self, path: str) -> Variable | None:
        self.calls.append(("read_variable", path))
        if self.down:
            raise NomadError("Nomad GET /v1/var: ConnectError")
        found = self.variables.get(path)
        return Variable(found[0], dict(found[1])) if found else None

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
    check_job: JobCheck | None = None,
    **server: Any,
) -> Pipeline:
    """A pipeline making JIT runners through `github` and dispatching through `nomad`."""
    settings = ServerSettings(**{"workers": 1, **server})
    credentials = GitHubCredentials(
        github, mode="jit", runner_group_id=1, remembered=settings.dedup_size
    )
    return Pipeline(
        LocalCarrier(credentials, nomad),
        policy=policy or Policy(),
        settings=settings,
        metrics=metrics or Metrics(),
        on_repo=on_repo,
        check_job=check_job,
    )


@dataclass
class Clock:
    """A settable wall clock: calling it answers `now`, which moves when set or slept on."""

    now: float = field(default_factory=time.time)

    def __call__(self) -> float:
        return self.now

    async def advance(self, seconds: float) -> None:
        """A sleep of the code under test: the time passes at once."""
        self.now += seconds


class SleepingClock:
    """A monotonic clock that moves only when told to, or when the code under test sleeps."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
