"""GitHubBackend: the emulator's state, with methods named after GitHub's REST operations.

Rules live here and in `actions.py`; `responses.py` only parses, calls and serializes.
"""

from __future__ import annotations

import base64
import json
import secrets
import string
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx

from simulator.clock import Clock
from simulator.github import representations as rep
from simulator.github.actions import Actions, Job, JobSpec, Run, Runner, first_ids
from simulator.github.auth import TOKEN_LIFETIME, Credentials, Principal
from simulator.github.errors import NotFound, RunnerCredentialRejected, ValidationFailed
from simulator.github.hooks import HookOperations
from simulator.github.representations import Account, Repo, Urls
from simulator.github.webhooks import Deliverer, Event, Hook, WebhookFault


@dataclass
class RegistrationToken:
    """A registration or remove token for one scope."""

    kind: str  # "registration" or "remove"
    scope: str
    expires_at: float


def _token29() -> str:
    """A runner registration token in GitHub's shape (29 upper-case letters and digits)."""
    return "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(29))


class GitHubBackend(HookOperations):
    """Repositories, credentials, Actions runs and runners, hooks and deliveries."""

    def __init__(
        self,
        *,
        repos: Iterable[str] = (),
        tokens: Iterable[str] = (),
        user_login: str = "rod-sim",
        base_url: str = "http://127.0.0.1",
        app_id: int | None = None,
        app_public_key: str | None = None,
        rate_limit: int = 5000,
        jit_connect_timeout: float = 600.0,
        webhook_transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.settings: dict[str, Any] = {
            "repos": list(repos),
            "tokens": list(tokens),
            "user_login": user_login,
            "app_id": app_id,
            "app_public_key": app_public_key,
            "rate_limit": rate_limit,
            "jit_connect_timeout": jit_connect_timeout,
        }
        self.base_url = base_url.rstrip("/")
        self.clock = clock or Clock()
        self.lock = threading.RLock()
        self.deliverer = Deliverer(self.clock.now, transport=webhook_transport)
        # Ids of runs, jobs, runners and hooks are never reused, not even across a reset: a
        # dispatcher running through several resets must never see an old job id again.
        self._ids = first_ids()
        self._hook_ids = 500000000
        try:
            self.reset()
        except Exception:
            self.deliverer.close()
            raise

    @property
    def urls(self) -> Urls:
        """API and HTML base URLs (both the emulator itself)."""
        return Urls(self.base_url, self.base_url)

    def reset(self) -> None:
        """Back to the configured repositories and tokens, with no runs, runners or hooks."""
        s = self.settings
        with self.lock:
            self.clock.reset()
            self.accounts: dict[str, Account] = {}
            self.user = self._account(s["user_login"], "User")
            self.credentials = Credentials(
                self.clock,
                {t: self.user.id for t in s["tokens"]},
                s["rate_limit"],
                s["app_id"],
                s["app_public_key"],
            )
            self.repos: dict[str, Repo] = {}
            self.hooks: dict[int, Hook] = {}
            self.reg_tokens: dict[str, RegistrationToken] = {}
            self.actions = Actions(
                self.clock,
                self._emit_job,
                jit_connect_timeout=s["jit_connect_timeout"],
                ids=self._ids,
            )
            self.deliverer.clear()
            for full_name in s["repos"]:
                self.create_repo(full_name)

    def close(self) -> None:
        """Stop the webhook delivery thread."""
        self.deliverer.close()

    # --- repositories and accounts -----------------------------------------------------------

    def _account(self, login: str, kind: str) -> Account:
        if login not in self.accounts:
            self.accounts[login] = Account(login, 9000 + len(self.accounts) + 1, kind)
        return self.accounts[login]

    def create_repo(self, full_name: str, *, private: bool = False, fork: bool = False) -> Repo:
        """(control plane) Add a repository the token administers; the owner is an org unless
        it is the token's user."""
        owner, _, name = full_name.partition("/")
        if not owner or not name or "/" in name:
            raise ValidationFailed(f"repository must be OWNER/NAME, not {full_name!r}")
        with self.lock:
            if full_name in self.repos:
                raise ValidationFailed(f"repository {full_name} already exists")
            kind = "User" if owner == self.user.login else "Organization"
            repo = Repo(
                700000000 + len(self.repos) + 1,
                self._account(owner, kind),
                name,
                private,
                fork,
                self.clock.now(),
            )
            self.repos[full_name] = repo
            return repo

    def get_repo(self, owner: str, repo: str) -> Repo:
        """A repository, 404 Not Found if unknown."""
        found = self.repos.get(f"{owner}/{repo}")
        if found is None:
            raise NotFound()
        return found

    def _scope(self, owner: str, repo: str | None) -> str:
        """A runner scope: `owner/repo`, or an org that owns at least one repository."""
        if repo is not None:
            return self.get_repo(owner, repo).full_name
        if not any(
            r.owner.login == owner and r.owner.type == "Organization" for r in self.repos.values()
        ):
            raise NotFound()
        return owner

    def list_user_repos(self) -> list[Repo]:
        """Every repository (the token administers all of them), by full name."""
        with self.lock:
            return sorted(self.repos.values(), key=lambda r: r.full_name)

    def list_org_repos(self, org: str) -> list[Repo]:
        """Repositories of one organization; 404 for an unknown organization."""
        with self.lock:
            self._scope(org, None)
            return [r for r in self.list_user_repos() if r.owner.login == org]

    # --- GitHub App ----------------------------------------------------------------------------

    def installation_id(self, account: Account) -> int:
        """The App's installation on an account (one per account)."""
        return 40000000 + account.id

    def get_repo_installation(self, owner: str, repo: str) -> tuple[int, Account]:
        """The App's installation on a repository's owner."""
        with self.lock:
            found = self.get_repo(owner, repo)
            return self.installation_id(found.owner), found.owner

    def create_installation_access_token(self, installation_id: int) -> tuple[str, float, Account]:
        """A one-hour `ghs_` token for an installation; 404 for an unknown installation."""
        with self.lock:
            for account in self.accounts.values():
                if self.installation_id(account) == installation_id and any(
                    r.owner is account for r in self.repos.values()
                ):
                    token, expires = self.credentials.issue_installation_token(installation_id)
                    return token, expires, account
            raise NotFound()

    def authenticate(self, authorization: str | None, *, app: bool = False) -> Principal:
        """Who is calling (see auth.Credentials.authenticate)."""
        with self.lock:
            return self.credentials.authenticate(authorization, app=app)

    # --- runner registration ------------------------------------------------------------------

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
        """A new offline JIT runner and its encoded config (docs/architecture.md shape)."""
        with self.lock:
            scope = self._scope(owner, repo)
            if runner_group_id != 1:
                raise NotFound()  # only the "Default" group exists here
            runner = self.actions.add_runner(
                scope, name=name, labels=labels, group_id=1, jit=True, ephemeral=True
            )
            return runner, self._encode_jit(runner, scope, work_folder)

    def _encode_jit(self, runner: Runner, scope: str, work_folder: str) -> str:
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

    # --- runs and jobs --------------------------------------------------------------------------

    def get_job(self, owner: str, repo: str, job_id: int) -> Job:
        """One workflow job."""
        with self.lock:
            return self.actions.get_job(job_id, repo=self.get_repo(owner, repo).full_name)

    def list_runs(self, owner: str, repo: str, *, status: str | None = None) -> list[Run]:
        """Runs of a repository, newest first, filtered by status or conclusion."""
        with self.lock:
            full = self.get_repo(owner, repo).full_name
            runs = [r for r in self.actions.runs.values() if r.repo == full]
            if status:
                runs = [r for r in runs if status in (r.status, r.conclusion)]
            return sorted(runs, key=lambda r: r.id, reverse=True)

    def list_run_jobs(self, owner: str, repo: str, run_id: int) -> list[Job]:
        """Jobs of one run."""
        with self.lock:
            full = self.get_repo(owner, repo).full_name
            return list(self.actions.get_run(run_id, repo=full).jobs)

    def create_run(
        self,
        owner: str,
        repo: str,
        *,
        name: str,
        event: str,
        jobs: list[JobSpec],
        head_branch: str = "main",
    ) -> Run:
        """(control plane) Start a workflow run; its jobs are queued and announced."""
        with self.lock:
            full = self.get_repo(owner, repo).full_name
            return self.actions.create_run(
                full, name=name, event=event, head_branch=head_branch, jobs=jobs
            )

    def cancel_job(self, job_id: int) -> Job:
        """(control plane) Cancel a job."""
        with self.lock:
            return self.actions.cancel_job(job_id)

    def approve_job(self, job_id: int) -> Job:
        """(control plane) Let a waiting job through its environment protection rules."""
        with self.lock:
            return self.actions.approve_job(job_id)

    # --- the simulator-only runner API ------------------------------------------------------------

    def register_runner(
        self, *, token: str, name: str, labels: list[str], ephemeral: bool
    ) -> tuple[Runner, str]:
        """What `config.sh` does with a registration token: a runner and its JIT-style config."""
        with self.lock:
            reg = self.reg_tokens.get(token)
            if reg is None or reg.kind != "registration" or reg.expires_at <= self.clock.now():
                raise RunnerCredentialRejected("unknown or expired registration token")
            runner = self.actions.add_runner(
                reg.scope, name=name, labels=labels, group_id=1, jit=False, ephemeral=ephemeral
            )
            return runner, self._encode_jit(runner, reg.scope, "_work")

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

    # --- events (hook operations are in hooks.py) -------------------------------------------

    def _emit_job(self, job: Job, action: str) -> None:
        repo = self.repos[job.repo]
        payload: dict[str, Any] = {
            "action": action,
            "workflow_job": rep.job(job, repo, self.urls, for_webhook=True),
        }
        self.emit(
            repo,
            Event(
                "workflow_job",
                action,
                self._envelope(payload, repo),
                repo.id,
                self._installation_of(repo),
            ),
        )

    def _installation_of(self, repo: Repo) -> int | None:
        return self.installation_id(repo.owner) if self.settings["app_id"] else None

    def _envelope(self, payload: dict[str, Any], repo: Repo) -> dict[str, Any]:
        """Add repository, sender, organization and installation to a payload."""
        payload["repository"] = rep.repository(repo, self.urls, with_permissions=False)
        if repo.owner.type == "Organization":
            payload["organization"] = rep.organization(repo.owner, self.urls)
        payload["sender"] = rep.user(self.user, self.urls)
        installation = self._installation_of(repo)
        if installation is not None:
            payload["installation"] = {
                "id": installation,
                "node_id": rep.node_id("I", installation),
            }
        return payload

    def emit(self, repo: Repo, event: Event, hooks: Iterable[Hook] | None = None) -> None:
        """Deliver an event to every active hook of `repo` subscribed to it."""
        targets = hooks if hooks is not None else self.hooks.values()
        for hook in list(targets):
            if hook.repo == repo.full_name and (hooks is not None or hook.wants(event.name)):
                self.deliverer.deliver(hook, event)

    def dump(self) -> dict[str, Any]:
        """(control plane) Everything, for `/_sim/state`; runner secrets are left out."""
        with self.lock:
            self.actions.sweep()
            urls = self.urls
            return {
                "now": rep.iso(self.clock.now()),
                "repos": sorted(self.repos),
                "runs": [
                    {
                        "id": run.id,
                        "repo": run.repo,
                        "name": run.name,
                        "event": run.event,
                        "status": run.status,
                        "conclusion": run.conclusion,
                        "job_ids": [j.id for j in run.jobs],
                    }
                    for run in self.actions.runs.values()
                ],
                "jobs": [
                    rep.job(job, self.repos[job.repo], urls, for_webhook=False)
                    for job in self.actions.jobs.values()
                ],
                "runners": [
                    {
                        **rep.runner(r),
                        "scope": r.scope,
                        "jit": r.jit,
                        "state": r.state,
                        "job_id": r.job_id,
                    }
                    for r in self.actions.runners.values()
                ],
                "hooks": [h.to_json(urls.api) for h in self.hooks.values()],
                "deliveries": [d.state() for d in list(self.deliverer.log)],
            }

    def add_webhook_fault(self, fault: WebhookFault) -> None:
        """(control plane) Drop, duplicate, delay or reorder the next deliveries."""
        self.deliverer.add_fault(fault)
