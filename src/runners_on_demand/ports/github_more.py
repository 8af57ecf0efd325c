"""More of the GitHub adapter: org runner groups, and any call or listing (`rod hooks`).

A mixin of `github.GitHubHttp`, on its request machinery: the credential, conditional GETs,
pagination, rate-limit and error mapping, and the call counter.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx

from runners_on_demand.ports.github_auth import Authorizer
from runners_on_demand.scope import RunnerGroup, RunnerScope, runner_group_from_rest

__all__ = ["MAX_PAGES", "MoreCalls"]

# Pages followed at most per listing (100 items each).
MAX_PAGES = 50


class MoreCalls:
    """list_runner_groups, request, pages."""

    _authorizer: Authorizer

    if TYPE_CHECKING:

        async def _authorization(
            self, owner: str, repo: str | None, installation_id: int | None
        ) -> str: ...

        async def _list(
            self,
            path: str,
            authorization: str,
            params: Mapping[str, str],
            key: str | None,
            max_pages: int = MAX_PAGES,
        ) -> list[Any]: ...

        async def _send(
            self, method: str, url: str, authorization: str, *, json: Any = None
        ) -> httpx.Response: ...

        def _answer(self, method: str, path: str, response: httpx.Response) -> Any: ...

    async def list_runner_groups(self, org: str) -> list[RunnerGroup]:
        """The organization's runner groups, with the repositories of each `selected` one."""
        # https://docs.github.com/en/rest/actions/self-hosted-runner-groups#list-self-hosted-runner-groups-for-an-organization
        base = f"/orgs/{quote(org, safe='')}/actions/runner-groups"
        authorization = await self._authorization(org, None, None)
        groups: list[RunnerGroup] = []
        for item in await self._list(base, authorization, {"per_page": "100"}, "runner_groups"):
            names: list[str] = []
            if isinstance(item, dict) and item.get("visibility") == "selected":
                # https://docs.github.com/en/rest/actions/self-hosted-runner-groups#list-repository-access-to-a-self-hosted-runner-group-in-an-organization
                path = f"{base}/{item.get('id')}/repositories"
                repos = await self._list(path, authorization, {"per_page": "100"}, "repositories")
                names = [str(r.get("full_name")) for r in repos if isinstance(r, dict)]
            group = runner_group_from_rest(org, item, names)
            if group is not None:
                groups.append(group)
        return groups

    async def request(self, method: str, path: str, *, json: Any = None) -> Any:
        """One call with the configured credential: the 2xx answer's JSON (None when empty)."""
        response = await self._send(method, path, self._authorizer.app_or_token(), json=json)
        return self._answer(method, path, response)

    async def pages(
        self,
        path: str,
        params: Mapping[str, str],
        key: str | None = None,
        *,
        scope: RunnerScope | None = None,
        max_pages: int = MAX_PAGES,
    ) -> list[Any]:
        """Every page of a listing (conditional GETs); `key` names the list in an object page.

        With a `scope`, a GitHub App calls with that account's installation token.
        """
        if scope is None:
            authorization = self._authorizer.app_or_token()
        else:
            authorization = await self._authorization(scope.owner, scope.repo, None)
        return await self._list(path, authorization, params, key, max_pages)
