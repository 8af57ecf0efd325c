"""The GitHub calls of `rod hooks`, over the dispatcher's own adapter (`ports.github.GitHubHttp`).

Every call goes through one `Retrier`, so a rate limit is waited out (GitHub's `retry-after` or
`x-ratelimit-reset`) and a 5xx tried again; listings are conditional GETs. A target is a
repository (`owner/repo`) or an organization (its login) for an org hook.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

from runners_on_demand.backoff import Retrier
from runners_on_demand.errors import GitHubError
from runners_on_demand.hooks.plan import HookSpec, ListedHook, hook_from_rest
from runners_on_demand.ports.github import GitHubHttp
from runners_on_demand.scope import RunnerScope

__all__ = ["HooksApi", "Repository"]

T = TypeVar("T")
PAGE = {"per_page": "100"}


@dataclass(frozen=True)
class Repository:
    """A repository as the owner's listing shows it to this token."""

    full_name: str
    admin: bool
    archived: bool = False


def _hooks_path(target: str) -> str:
    """`/repos/{owner}/{repo}/hooks`, or `/orgs/{org}/hooks` for an organization."""
    owner, repo = RunnerScope.parse(target)
    base = f"/orgs/{quote(owner, safe='')}" if repo is None else f"/repos/{owner}/{repo}"
    return f"{base}/hooks"


class HooksApi:
    """Owners, their repositories, hooks and deliveries."""

    def __init__(self, github: GitHubHttp, retrier: Retrier) -> None:
        self.github = github
        self._retrier = retrier

    async def _retried(self, where: str, call: Callable[[], Awaitable[T]]) -> T:
        return await self._retrier.run(where, call)

    async def is_organization(self, owner: str) -> bool:
        """`GET /orgs/{owner}`: 200 for an organization, 404 for a user (or nobody)."""
        # https://docs.github.com/rest/orgs/orgs#get-an-organization
        path = f"/orgs/{quote(owner, safe='')}"
        try:
            await self._retried(path, lambda: self.github.request("GET", path))
        except GitHubError as error:
            if error.status == 404:
                return False
            raise
        return True

    async def repositories(self, owner: str, *, organization: bool) -> list[Repository]:
        """The owner's repositories this token sees, with whether it may administer each."""
        # https://docs.github.com/rest/repos/repos#list-organization-repositories
        # https://docs.github.com/rest/repos/repos#list-repositories-for-the-authenticated-user
        # (not /users/{username}/repos: it lists public repositories only)
        path = f"/orgs/{quote(owner, safe='')}/repos" if organization else "/user/repos"
        listed = await self._retried(path, lambda: self.github.pages(path, PAGE))
        found = []
        for item in listed:
            if not isinstance(item, dict):
                continue
            login = str((item.get("owner") or {}).get("login", ""))
            if login.lower() != owner.lower():
                continue
            admin = bool((item.get("permissions") or {}).get("admin", False))
            archived = bool(item.get("archived", False))
            found.append(Repository(str(item.get("full_name")), admin, archived))
        return sorted(found, key=lambda repo: repo.full_name.lower())

    async def hooks(self, target: str) -> list[ListedHook]:
        """`GET .../hooks`, every page; 404 (unknown, or no admin rights) as GitHubError."""
        # https://docs.github.com/rest/repos/webhooks#list-repository-webhooks
        path = _hooks_path(target)
        listed = await self._retried(path, lambda: self.github.pages(path, PAGE))
        return [hook for item in listed if (hook := hook_from_rest(item)) is not None]

    async def create(self, target: str, spec: HookSpec, secret: str) -> int:
        """`POST .../hooks` (201): the new hook's id."""
        path = _hooks_path(target)
        body = spec.body(secret, org="/" not in target)
        made = await self._retried(path, lambda: self.github.request("POST", path, json=body))
        return int(made["id"])

    async def update(self, target: str, hook_id: int, spec: HookSpec, secret: str) -> None:
        """`PATCH .../hooks/{id}` with the whole config: one without the secret removes it."""
        # https://docs.github.com/rest/repos/webhooks#update-a-repository-webhook
        path = f"{_hooks_path(target)}/{hook_id}"
        body = spec.body(secret, org=False)  # PATCH takes no "name"
        await self._retried(path, lambda: self.github.request("PATCH", path, json=body))

    async def delete(self, target: str, hook_id: int) -> None:
        """`DELETE .../hooks/{id}` (204)."""
        path = f"{_hooks_path(target)}/{hook_id}"
        await self._retried(path, lambda: self.github.request("DELETE", path))

    async def deliveries(self, target: str, hook_id: int, limit: int) -> list[dict[str, Any]]:
        """The newest `limit` deliveries (at least one page), newest first, by cursor."""
        # https://docs.github.com/rest/repos/webhooks#list-deliveries-for-a-repository-webhook
        path = f"{_hooks_path(target)}/{hook_id}/deliveries"
        pages = max(1, -(-limit // 100))
        listed = await self._retried(path, lambda: self.github.pages(path, PAGE, max_pages=pages))
        return [item for item in listed if isinstance(item, dict)][:limit]

    async def redeliver(self, target: str, hook_id: int, delivery_id: int) -> None:
        """`POST .../deliveries/{id}/attempts` (202): GitHub sends it again, same GUID."""
        # https://docs.github.com/rest/repos/webhooks#redeliver-a-delivery-for-a-repository-webhook
        path = f"{_hooks_path(target)}/{hook_id}/deliveries/{delivery_id}/attempts"
        await self._retried(path, lambda: self.github.request("POST", path))
