"""JSON shapes of the emulator's objects, as GitHub's REST API and webhooks spell them.

Field lists follow GitHub's OpenAPI description (simulator/github/openapi/rest.json, webhooks.json).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from simulator.github.actions import Job, Run, Runner


def iso(timestamp: float | None) -> str | None:
    """`2026-11-28T02:45:00Z`, or None."""
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def node_id(kind: str, number: int) -> str:
    """An opaque GraphQL-style node id."""
    return f"{kind}_{number:x}"


@dataclass(frozen=True)
class Urls:
    """Where the emulator lives: REST `api` base and `html` base (the same server)."""

    api: str
    html: str


@dataclass
class Account:
    """A user or an organization."""

    login: str
    id: int
    type: str  # "User" or "Organization"


@dataclass
class Repo:
    """A repository the token can administer."""

    id: int
    owner: Account
    name: str
    private: bool
    fork: bool
    created_at: float

    @property
    def full_name(self) -> str:
        """`owner/name`."""
        return f"{self.owner.login}/{self.name}"


def user(account: Account, urls: Urls) -> dict[str, Any]:
    """simple-user."""
    api = f"{urls.api}/users/{account.login}"
    return {
        "login": account.login,
        "id": account.id,
        "node_id": node_id("U", account.id),
        "avatar_url": f"{urls.html}/avatars/{account.id}",
        "gravatar_id": "",
        "url": api,
        "html_url": f"{urls.html}/{account.login}",
        "followers_url": f"{api}/followers",
        "following_url": f"{api}/following{{/other_user}}",
        "gists_url": f"{api}/gists{{/gist_id}}",
        "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{api}/subscriptions",
        "organizations_url": f"{api}/orgs",
        "repos_url": f"{api}/repos",
        "events_url": f"{api}/events{{/privacy}}",
        "received_events_url": f"{api}/received_events",
        "type": account.type,
        "user_view_type": "public",
        "site_admin": False,
    }


# What the emulated App is granted (https://docs.github.com/actions/hosting-your-own-runners/managing-self-hosted-runners/autoscaling-with-self-hosted-runners).
APP_PERMISSIONS = {"actions": "read", "administration": "write", "metadata": "read"}
APP_SLUG = "runners-on-demand"


def app(app_id: int, owner: Account, installations: int, urls: Urls) -> dict[str, Any]:
    """integration, as `GET /app` answers it to the App itself (with `installations_count`)."""
    now = iso(0)
    return {
        "id": app_id,
        "slug": APP_SLUG,
        "node_id": node_id("A", app_id),
        "client_id": f"Iv1.{app_id:016x}",
        "owner": user(owner, urls),
        "name": APP_SLUG,
        "description": None,
        "external_url": urls.html,
        "html_url": f"{urls.html}/apps/{APP_SLUG}",
        "created_at": now,
        "updated_at": now,
        "permissions": dict(APP_PERMISSIONS),
        "events": ["workflow_job"],
        "installations_count": installations,
    }


def installation(installation_id: int, app_id: int, account: Account, urls: Urls) -> dict[str, Any]:
    """installation: the App installed on all repositories of `account`."""
    now = iso(0)
    return {
        "id": installation_id,
        "client_id": f"Iv1.{app_id:016x}",
        "account": user(account, urls),
        "repository_selection": "all",
        "access_tokens_url": f"{urls.api}/app/installations/{installation_id}/access_tokens",
        "repositories_url": f"{urls.api}/installation/repositories",
        "html_url": f"{urls.html}/settings/installations/{installation_id}",
        "app_id": app_id,
        "app_slug": APP_SLUG,
        "target_id": account.id,
        "target_type": account.type,
        "permissions": dict(APP_PERMISSIONS),
        "events": ["workflow_job"],
        "created_at": now,
        "updated_at": now,
        "single_file_name": None,
        "has_multiple_single_files": False,
        "single_file_paths": [],
        "suspended_by": None,
        "suspended_at": None,
    }


def organization(account: Account, urls: Urls) -> dict[str, Any]:
    """organization-simple, as webhooks carry it."""
    api = f"{urls.api}/orgs/{account.login}"
    return {
        "login": account.login,
        "id": account.id,
        "node_id": node_id("O", account.id),
        "url": api,
        "repos_url": f"{api}/repos",
        "events_url": f"{api}/events",
        "hooks_url": f"{api}/hooks",
        "issues_url": f"{api}/issues",
        "members_url": f"{api}/members{{/member}}",
        "public_members_url": f"{api}/public_members{{/member}}",
        "avatar_url": f"{urls.html}/avatars/{account.id}",
        "description": None,
    }


_TEMPLATED = {
    "archive_url": "{archive_format}{/ref}",
    "assignees_url": "assignees{/user}",
    "blobs_url": "git/blobs{/sha}",
    "branches_url": "branches{/branch}",
    "collaborators_url": "collaborators{/collaborator}",
    "comments_url": "comments{/number}",
    "commits_url": "commits{/sha}",
    "compare_url": "compare/{base}...{head}",
    "contents_url": "contents/{+path}",
    "contributors_url": "contributors",
    "deployments_url": "deployments",
    "downloads_url": "downloads",
    "events_url": "events",
    "forks_url": "forks",
    "git_commits_url": "git/commits{/sha}",
    "git_refs_url": "git/refs{/sha}",
    "git_tags_url": "git/tags{/sha}",
    "hooks_url": "hooks",
    "issue_comment_url": "issues/comments{/number}",
    "issue_events_url": "issues/events{/number}",
    "issues_url": "issues{/number}",
    "keys_url": "keys{/key_id}",
    "labels_url": "labels{/name}",
    "languages_url": "languages",
    "merges_url": "merges",
    "milestones_url": "milestones{/number}",
    "notifications_url": "notifications{?since,all,participating}",
    "pulls_url": "pulls{/number}",
    "releases_url": "releases{/id}",
    "stargazers_url": "stargazers",
    "statuses_url": "statuses/{sha}",
    "subscribers_url": "subscribers",
    "subscription_url": "subscription",
    "tags_url": "tags",
    "teams_url": "teams",
    "trees_url": "git/trees{/sha}",
}


def repository(
    repo: Repo, urls: Urls, *, with_permissions: bool = True, admin: bool = True
) -> dict[str, Any]:
    """repository (REST `/user/repos`, `/orgs/{org}/repos`) and the webhook `repository`;
    `permissions` are the caller's: everything, or push without admin/maintain."""
    api = f"{urls.api}/repos/{repo.full_name}"
    html = f"{urls.html}/{repo.full_name}"
    created = iso(repo.created_at)
    body: dict[str, Any] = {
        "id": repo.id,
        "node_id": node_id("R", repo.id),
        "name": repo.name,
        "full_name": repo.full_name,
        "private": repo.private,
        "owner": user(repo.owner, urls),
        "html_url": html,
        "description": None,
        "fork": repo.fork,
        "url": api,
        **{key: f"{api}/{tail}" for key, tail in _TEMPLATED.items()},
        "git_url": f"git://{html.split('://', 1)[-1]}.git",
        "ssh_url": f"git@{html.split('://', 1)[-1].split('/', 1)[0]}:{repo.full_name}.git",
        "clone_url": f"{html}.git",
        "svn_url": html,
        "mirror_url": None,
        "homepage": None,
        "language": None,
        "forks": 0,
        "forks_count": 0,
        "stargazers_count": 0,
        "watchers_count": 0,
        "watchers": 0,
        "open_issues": 0,
        "open_issues_count": 0,
        "size": 0,
        "default_branch": "main",
        "is_template": False,
        "topics": [],
        "has_issues": True,
        "has_projects": True,
        "has_wiki": True,
        "has_pages": False,
        "has_downloads": True,
        "has_discussions": False,
        "archived": False,
        "disabled": False,
        "visibility": "private" if repo.private else "public",
        "license": None,
        "pushed_at": created,
        "created_at": created,
        "updated_at": created,
        "allow_forking": True,
        "web_commit_signoff_required": False,
    }
    if with_permissions:
        body["permissions"] = {
            "admin": admin,
            "maintain": admin,
            "push": True,
            "triage": True,
            "pull": True,
        }
    return body


def runner(item: Runner) -> dict[str, Any]:
    """runner: status online/offline, busy, custom labels."""
    return {
        "id": item.id,
        "runner_group_id": item.group_id,
        "name": item.name,
        "os": "Linux",
        "status": "offline" if item.state == "offline" else "online",
        "busy": item.state == "busy",
        "ephemeral": item.ephemeral,
        "labels": [
            {"id": index + 1, "name": label, "type": "custom"}
            for index, label in enumerate(item.labels)
        ],
    }


def job(item: Job, repo: Repo, urls: Urls, *, for_webhook: bool) -> dict[str, Any]:
    """job (REST) or the webhook `workflow_job`; they differ only in the no-runner spelling."""
    api = f"{urls.api}/repos/{repo.full_name}"
    html = f"{urls.html}/{repo.full_name}"
    runner_id: int | None = item.runner_id
    if runner_id is None and item.status == "completed" and not for_webhook:
        runner_id = 0  # the REST view of a job cancelled before it ran (actions/runner#4684)
    return {
        "id": item.id,
        "run_id": item.run_id,
        "run_url": f"{api}/actions/runs/{item.run_id}",
        "run_attempt": item.run_attempt,
        "node_id": node_id("CR", item.id),
        "head_sha": item.head_sha,
        "head_branch": item.head_branch,
        "workflow_name": item.workflow_name,
        "url": f"{api}/actions/jobs/{item.id}",
        "html_url": f"{html}/actions/runs/{item.run_id}/job/{item.id}",
        "check_run_url": f"{api}/check-runs/{item.id}",
        "status": item.status,
        "conclusion": item.conclusion,
        "created_at": iso(item.created_at),
        "started_at": iso(item.started_at),
        "completed_at": iso(item.completed_at),
        "name": item.spec.name,
        "labels": list(item.spec.labels),
        "runner_id": runner_id,
        "runner_name": item.runner_name,
        "runner_group_id": item.runner_group_id,
        "runner_group_name": item.runner_group_name,
        "steps": [
            {
                "name": step.name,
                "number": step.number,
                "status": step.status,
                "conclusion": step.conclusion,
                "started_at": iso(step.started_at),
                "completed_at": iso(step.completed_at),
            }
            for step in item.steps
        ],
    }


def workflow_run(run: Run, repo: Repo, urls: Urls, actor: Account) -> dict[str, Any]:
    """workflow-run."""
    api = f"{urls.api}/repos/{repo.full_name}"
    run_api = f"{api}/actions/runs/{run.id}"
    minimal = repository(repo, urls, with_permissions=False)
    return {
        "id": run.id,
        "name": run.name,
        "node_id": node_id("WFR", run.id),
        "check_suite_id": run.id,
        "check_suite_node_id": node_id("CS", run.id),
        "head_branch": run.head_branch,
        "head_sha": run.head_sha,
        "path": ".github/workflows/ci.yml",
        "display_title": run.name,
        "run_number": run.run_number,
        "run_attempt": 1,
        "event": run.event,
        "status": run.status,
        "conclusion": run.conclusion,
        "workflow_id": 1,
        "url": run_api,
        "html_url": f"{urls.html}/{repo.full_name}/actions/runs/{run.id}",
        "pull_requests": [],
        "created_at": iso(run.created_at),
        "updated_at": iso(max([run.created_at, *[j.completed_at or 0 for j in run.jobs]])),
        "run_started_at": iso(run.created_at),
        "actor": user(actor, urls),
        "triggering_actor": user(actor, urls),
        "jobs_url": f"{run_api}/jobs",
        "logs_url": f"{run_api}/logs",
        "check_suite_url": f"{api}/check-suites/{run.id}",
        "artifacts_url": f"{run_api}/artifacts",
        "cancel_url": f"{run_api}/cancel",
        "rerun_url": f"{run_api}/rerun",
        "previous_attempt_url": None,
        "workflow_url": f"{api}/actions/workflows/1",
        "head_commit": {
            "id": run.head_sha,
            "tree_id": run.head_sha,
            "message": run.name,
            "timestamp": iso(run.created_at),
            "author": {"name": actor.login, "email": f"{actor.login}@users.noreply.github.com"},
            "committer": {"name": actor.login, "email": f"{actor.login}@users.noreply.github.com"},
        },
        "repository": minimal,
        "head_repository": minimal,
    }
