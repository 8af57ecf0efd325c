"""Self-hosted runner operations of the backend, at repository or organization scope, as a mixin.

Each operation takes `(owner, repo)` for `/repos/{owner}/{repo}/actions/runners...` or
`(org, None)` for `/orgs/{org}/actions/runners...`. Facts relied on
(https://docs.github.com/rest/actions/self-hosted-runners, github-api.md §4): registration and
remove tokens last one hour; generate-jitconfig needs a `runner_group_id` (repository runners:
1, "Default"; org runners: a group of that org, else 404) and answers 201 with an offline
runner; `config.sh --runnergroup NAME` registers an org runner into a group by name, failing with
`Could not find any self-hosted runner group named "NAME".` when there is none.
"""

from __future__ import annotations

import base64
import json
import secrets
import string
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from simulator.github.auth import TOKEN_LIFETIME
from simulator.github.errors import NotFound, RunnerCredentialRejected
from simulator.github.runner_groups import DEFAULT_GROUP_ID, DEFAULT_GROUP_NAME, RunnerGroups

if TYPE_CHECKING:
    from simulator.clock import Clock
    from simulator.github.actions import Actions, Job, Runner
    from simulator.github.representations import Account, Repo


@dataclass
class RegistrationToken:
    """A registration or remove token for one scope."""

    kind: str  # "registration" or "remove"
    scope: str
    expires_at: float


def _token29() -> str:
    """A runner registration token in GitHub's shape (29 upper-case letters and digits)."""
    return "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(29))


class RunnerOperations:
    """Registration tokens, JIT configs, runner listings and removal, and the runner's own calls."""

    lock: threading.RLock
    clock: Clock
    base_url: str
    actions: Actions
    runner_groups: RunnerGroups
    reg_tokens: dict[str, RegistrationToken]

    if TYPE_CHECKING:

        def get_repo(self, owner: str, repo: str) -> Repo: ...
        def get_org(self, org: str) -> Account: ...

    def _scope(self, owner: str, repo: str | None) -> str:
        """A runner scope: `owner/repo`, or an organization's login."""
        if repo is not None:
            return self.get_repo(owner, repo).full_name
        return self.get_org(owner).login

    def _group_id(self, scope: str, *, group_id: int = DEFAULT_GROUP_ID, name: str = "") -> int:
        """The group a new runner of `scope` joins, by id or by name; 404 if there is none."""
        if "/" in scope:  # a repository's runners are all in its "Default" group
            if name and name.casefold() != DEFAULT_GROUP_NAME.casefold():
                raise NotFound(_no_group(name))
            if group_id != DEFAULT_GROUP_ID:
                raise NotFound()
            return DEFAULT_GROUP_ID
        if name:
            group = self.runner_groups.find(scope, name)
            if group is None:
                raise NotFound(_no_group(name))
            return group.id
        return self.runner_groups.get(scope, group_id).id

    def _issue(self, kind: str, scope: str) -> tuple[str, float]:
        token = _token29()
        expires = self.clock.now() + TOKEN_LIFETIME
        self.reg_tokens[token] = RegistrationToken(kind, scope, expires)
        return token, expires

    def create_registration_token(self, owner: str, repo: str | None = None) -> tuple[str, float]:
        """A one-hour token for `config.sh --token`."""
        with self.lock:
            return self._issue("registration", self._scope(owner, repo))

    def create_remove_token(self, owner: str, repo: str | None = None) -> tuple[str, float]:
        """A one-hour token for `config.sh remove --token`."""
        with self.lock:
            return self._issue("remove", self._scope(owner, repo))

    def generate_jitconfig(
        self,
        owner: str,
        repo: str | None = None,
        *,
        name: str,
        runner_group_id: int,
        labels: list[str],
        work_folder: str = "_work",
    ) -> tuple[Runner, str]:
        """A new offline JIT runner in a group and its encoded config (docs/architecture.md)."""
        with self.lock:
            scope = self._scope(owner, repo)
            group_id = self._group_id(scope, group_id=runner_group_id)
            runner = self.actions.add_runner(
                scope, name=name, labels=labels, group_id=group_id, jit=True, ephemeral=True
            )
            return runner, self.encode_jit(runner, scope, work_folder)

    def encode_jit(self, runner: Runner, scope: str, work_folder: str) -> str:
        """base64 of JSON `{".runner": b64(json), ".credentials": b64(json)}`."""
        dot_runner = {
            "AgentId": runner.id,
            "AgentName": runner.name,
            "PoolId": runner.group_id,
            "ServerUrl": f"{self.base_url}/_actions",
            "GitHubUrl": f"{self.base_url}/{scope}",
            "WorkFolder": work_folder,
            "Ephemeral": runner.ephemeral,
        }
        credentials = {"Scheme": "OAuth", "Data": {"token": runner.secret}}

        def b64(value: dict[str, Any]) -> str:
            return base64.b64encode(json.dumps(value).encode()).decode()

        return b64({".runner": b64(dot_runner), ".credentials": b64(credentials)})

    def list_runners(
        self, owner: str, repo: str | None = None, *, name: str | None = None
    ) -> list[Runner]:
        """Runners of a repository or an organization."""
        with self.lock:
            return self.actions.list_runners(self._scope(owner, repo), name=name)

    def get_runner(self, owner: str, repo: str | None, runner_id: int) -> Runner:
        """One runner."""
        with self.lock:
            return self.actions.get_runner(self._scope(owner, repo), runner_id)

    def delete_runner(self, owner: str, repo: str | None, runner_id: int) -> None:
        """Remove a runner; 422 while it is busy."""
        with self.lock:
            self.actions.delete_runner(self._scope(owner, repo), runner_id)

    # --- the simulator-only runner API ------------------------------------------------------------

    def register_runner(
        self,
        *,
        token: str,
        name: str,
        labels: list[str],
        ephemeral: bool,
        runner_group: str = "",
    ) -> tuple[Runner, str]:
        """What `config.sh [--runnergroup G]` does with a registration token: a runner and its
        JIT-style config."""
        with self.lock:
            reg = self.reg_tokens.get(token)
            if reg is None or reg.kind != "registration" or reg.expires_at <= self.clock.now():
                raise RunnerCredentialRejected("unknown or expired registration token")
            group_id = self._group_id(reg.scope, name=runner_group)
            runner = self.actions.add_runner(
                reg.scope,
                name=name,
                labels=labels,
                group_id=group_id,
                jit=False,
                ephemeral=ephemeral,
            )
            return runner, self.encode_jit(runner, reg.scope, "_work")

    def open_session(self, secret: str) -> Runner:
        """The runner connects."""
        with self.lock:
            return self.actions.open_session(secret)

    def acquire_job(self, secret: str, session_id: str) -> Job | None:
        """The runner polls for a job."""
        with self.lock:
            return self.actions.acquire_job(secret, session_id)

    def complete_job(self, secret: str, job_id: int, conclusion: str) -> Job:
        """The runner reports its job done."""
        with self.lock:
            return self.actions.complete_job(secret, job_id, conclusion)

    def close_session(self, secret: str, session_id: str) -> None:
        """The runner disconnects."""
        with self.lock:
            self.actions.close_session(secret, session_id)


def _no_group(name: str) -> str:
    """The runner's message for an unknown `--runnergroup` (cdk-github-runners#630)."""
    return f'Could not find any self-hosted runner group named "{name}".'
