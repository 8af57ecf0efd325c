"""GitHubBackend: the emulator's state, with methods named after GitHub's REST operations.

Rules live here, in the operation mixins (`hooks.py`, `orgs.py`, `runners.py`) and in
`actions.py`/`runner_groups.py`; `responses.py` only parses, calls and serializes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

import httpx

from simulator.clock import Clock
from simulator.github import org_representations as org_rep
from simulator.github import representations as rep
from simulator.github.actions import Actions, Job, JobSpec, Run, first_ids
from simulator.github.auth import Credentials, Principal
from simulator.github.errors import NotFound, ValidationFailed
from simulator.github.hooks import HookOperations
from simulator.github.orgs import OrgOperations
from simulator.github.representations import Account, Repo, Urls
from simulator.github.runner_groups import RunnerGroups
from simulator.github.runners import RegistrationToken, RunnerOperations
from simulator.github.scaleset_host import ScaleSetSettings
from simulator.github.scaleset_models import ScaleSetBackend
from simulator.github.secondary import SecondaryLimits, SecondarySettings
from simulator.github.webhooks import Deliverer, Event, Hook, WebhookFault


class GitHubBackend(HookOperations, OrgOperations, RunnerOperations):
    """Accounts and repositories, credentials, Actions runs and runners, hooks and deliveries."""

    def __init__(
        self,
        *,
        repos: Iterable[str] = (),
        orgs: Iterable[str] = (),
        tokens: Iterable[str] = (),
        user_login: str = "rod-sim",
        base_url: str = "http://127.0.0.1",
        app_id: int | None = None,
        app_public_key: str | None = None,
        rate_limit: int = 5000,
        jit_connect_timeout: float = 600.0,
        webhook_transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock | None = None,
        scaleset: ScaleSetSettings | None = None,
        secondary: SecondarySettings | None = None,
    ) -> None:
        self.settings: dict[str, Any] = {
            "repos": list(repos),
            "orgs": list(orgs),
            "tokens": list(tokens),
            "user_login": user_login,
            "app_id": app_id,
            "app_public_key": app_public_key,
            "rate_limit": rate_limit,
            "jit_connect_timeout": jit_connect_timeout,
            "scaleset": scaleset or ScaleSetSettings(),
            "secondary": secondary or SecondarySettings(),
        }
        self.base_url = base_url.rstrip("/")
        self.clock = clock or Clock()
        self.lock = threading.RLock()
        self.deliverer = Deliverer(self.clock.now, transport=webhook_transport)
        # Ids of runs, jobs, runners, runner groups and hooks are never reused, not even across a
        # reset: a dispatcher running through several resets must never see an old job id again.
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
        """Back to the configured orgs, repositories and tokens, with no runs, runners, custom
        runner groups or hooks."""
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
            self.runner_groups = RunnerGroups(self._ids)
            self.actions = Actions(
                self.clock,
                self._emit_job,
                jit_connect_timeout=s["jit_connect_timeout"],
                ids=self._ids,
                placement=self,
            )
            self.scalesets = ScaleSetBackend(self, s["scaleset"], self._ids)
            # Off unless configured; `/_sim/secondary-limits` switches it until the next reset.
            self.secondary = SecondaryLimits(s["secondary"])
            self.deliverer.clear()
            for login in s["orgs"]:
                self.create_org(login)
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
        """(control plane) Add a repository the token administers; the owner is the token's
        user or an organization, created with its default runner group when it is new."""
        owner, _, name = full_name.partition("/")
        if not owner or not name or "/" in name:
            raise ValidationFailed(f"repository must be OWNER/NAME, not {full_name!r}")
        with self.lock:
            if full_name in self.repos:
                raise ValidationFailed(f"repository {full_name} already exists")
            if owner == self.user.login:
                account = self.user
            elif owner in self.accounts:
                account = self.accounts[owner]
            else:
                account = self.create_org(owner)
            repo = Repo(
                700000000 + len(self.repos) + 1,
                account,
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

    def list_user_repos(self) -> list[Repo]:
        """Every repository (the token administers all of them), by full name."""
        with self.lock:
            return sorted(self.repos.values(), key=lambda r: r.full_name)

    # --- GitHub App ----------------------------------------------------------------------------

    def installation_id(self, account: Account) -> int:
        """The App's installation on an account (one per account)."""
        return 40000000 + account.id

    def get_authenticated_app(self) -> tuple[int, Account, int]:
        """The App behind a verified JWT: its id, its owner (the token's user) and how many
        accounts it is installed on (every account that owns a repository)."""
        with self.lock:
            installed = {r.owner.id for r in self.repos.values()}
            return self.settings["app_id"], self.user, len(installed)

    def get_repo_installation(self, owner: str, repo: str) -> tuple[int, Account]:
        """The App's installation on a repository's owner."""
        with self.lock:
            found = self.get_repo(owner, repo)
            return self.installation_id(found.owner), found.owner

    def get_org_installation(self, org: str) -> tuple[int, Account]:
        """The App's installation on an organization (one with repositories, as for the token
        below); 404 for a user or an unknown login."""
        with self.lock:
            account = self.get_org(org)
            if not any(r.owner is account for r in self.repos.values()):
                raise NotFound()
            return self.installation_id(account), account

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

    def add_token(self, token: str, *, admin: bool = True) -> None:
        """(control plane) A personal token of the user, with or without admin rights."""
        with self.lock:
            if not token.strip() or token in self.credentials.tokens:
                raise ValidationFailed("token must be new and not blank")
            self.credentials.tokens[token] = self.user.id
            if not admin:
                self.credentials.non_admin.add(token)

    def revoke_token(self, token: str) -> None:
        """(control plane) Revoke a personal token: from now on it is 401 "Bad credentials"."""
        with self.lock:
            if self.credentials.tokens.pop(token, None) is None:
                raise NotFound()
            self.credentials.non_admin.discard(token)

    def authenticate(self, authorization: str | None, *, app: bool = False) -> Principal:
        """Who is calling (see auth.Credentials.authenticate)."""
        with self.lock:
            return self.credentials.authenticate(authorization, app=app)

    def identify(self, authorization: str | None) -> Principal | None:
        """Who is calling with any credential, if any (see auth.Credentials.identify)."""
        with self.lock:
            return self.credentials.identify(authorization)

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

    # --- events (hook operations are in hooks.py) -------------------------------------------

    def _emit_job(self, job: Job, action: str) -> None:
        self.scalesets.jobs.on_job(job, action)
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
                self._installation_of(repo.owner),
            ),
        )

    def _installation_of(self, account: Account) -> int | None:
        return self.installation_id(account) if self.settings["app_id"] else None

    def _envelope(self, payload: dict[str, Any], repo: Repo) -> dict[str, Any]:
        """Add repository, sender, organization and installation to a payload."""
        payload["repository"] = rep.repository(repo, self.urls, with_permissions=False)
        if repo.owner.type == "Organization":
            payload["organization"] = rep.organization(repo.owner, self.urls)
        payload["sender"] = rep.user(self.user, self.urls)
        installation = self._installation_of(repo.owner)
        if installation is not None:
            payload["installation"] = {
                "id": installation,
                "node_id": rep.node_id("I", installation),
            }
        return payload

    def emit(self, repo: Repo, event: Event) -> None:
        """Deliver an event to every active hook of `repo`, or of its org, subscribed to it."""
        for hook in list(self.hooks.values()):
            if hook.covers(repo.full_name) and hook.wants(event.name):
                self.deliverer.deliver(hook, event)

    def dump(self) -> dict[str, Any]:
        """(control plane) Everything, for `/_sim/state`; runner secrets are left out."""
        with self.lock:
            self.actions.sweep()
            urls = self.urls
            orgs = sorted(a.login for a in self.accounts.values() if a.type == "Organization")
            return {
                "now": rep.iso(self.clock.now()),
                "orgs": orgs,
                "repos": sorted(self.repos),
                "runner_groups": [
                    {
                        **org_rep.runner_group(group, urls),
                        "org": org,
                        "selected_repository_ids": list(group.selected_repository_ids),
                    }
                    for org in orgs
                    for group in self.runner_groups.list(org)
                ],
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
                "scale_sets": self.scalesets.dump(),
                "deliveries": [d.state() for d in list(self.deliverer.log)],
            }

    def add_webhook_fault(self, fault: WebhookFault) -> None:
        """(control plane) Drop, duplicate, delay or reorder the next deliveries."""
        self.deliverer.add_fault(fault)
