"""The pools' org runner groups: resolved when `rod serve` starts, refreshed by the reconciler.

A pool with `runner_group = "name"` makes its runners at the configured `organization`, in that
group. At start the name becomes the group GitHub lists (matched case-insensitively: id,
visibility, selected repositories); an unknown organization or group, or a configured repository
(`[reconcile] repos`, `allow` entries) that no pool would serve, is a `ConfigError` with one line
each. Every reconcile tick lists the groups again with conditional requests (a 304 costs no rate
limit), so a repository added to a group is served without a restart.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import replace

from runners_on_demand.decision import Policy
from runners_on_demand.errors import ConfigError, GitHubError, GitHubRateLimited
from runners_on_demand.ports import GitHubPort
from runners_on_demand.ports.github import GitHubHttp
from runners_on_demand.scope import RunnerGroup, RunnerScope

__all__ = ["attach", "refresh", "resolve"]

log = logging.getLogger(__name__)


def attach(policy: Policy, groups: Sequence[RunnerGroup]) -> tuple[Policy, list[str]]:
    """The policy whose runner-group pools carry the group of that name; a problem per miss.

    A pool whose group is missing keeps what it had (unresolved at start, the last one seen
    later). Pure.
    """
    by_name = {group.name.casefold(): group for group in groups}
    pools, problems = [], []
    for pool in policy.pools:
        if pool.runner_group is None:
            pools.append(pool)
            continue
        group = by_name.get(pool.runner_group.casefold())
        if group is None:
            org = groups[0].org if groups else "the organization"
            known = ", ".join(sorted(g.name for g in groups)) or "none"
            problems.append(
                f"pools {pool.name!r}: {org} has no runner group {pool.runner_group!r} "
                f"(it has: {known})"
            )
        pools.append(pool if group is None else replace(pool, group=group))
    return replace(policy, pools=tuple(pools)), problems


async def resolve(
    github: GitHubHttp, policy: Policy, organization: str, repos: Iterable[str] = ()
) -> Policy:
    """The policy with every runner group resolved; `ConfigError` lists what does not work.

    `repos` are the configured repositories: each one of `organization` must be a repository of
    it that some pool serves (a group that allows it, or a repository pool).
    """
    try:
        groups = await github.list_runner_groups(organization)
    except GitHubRateLimited:
        raise
    except GitHubError as error:
        if error.status in (403, 404):
            raise ConfigError([_unreadable(organization, error.status)]) from None
        raise
    resolved, problems = attach(policy, groups)
    if problems:
        raise ConfigError(problems)
    mine = [repo for repo in repos if repo.partition("/")[0].lower() == organization.lower()]
    if mine and all(pool.runner_group for pool in resolved.pools):
        problems = await _unserved(github, resolved, organization, mine)
        if problems:
            raise ConfigError(problems)
    for pool in resolved.pools:
        if pool.group is not None:
            log.info("pool %s: %s", pool.name, pool.group.describe())
    return resolved


async def _unserved(
    github: GitHubHttp, policy: Policy, organization: str, repos: Sequence[str]
) -> list[str]:
    """One line per configured repository that is not in the org or that no group allows."""
    # https://docs.github.com/rest/repos/repos#list-organization-repositories (private)
    path = f"/orgs/{organization}/repos"
    listed = await github.pages(path, {"per_page": "100"}, scope=RunnerScope(organization))
    private = {
        str(repo.get("full_name", "")).lower(): repo.get("private")
        for repo in listed
        if isinstance(repo, dict)
    }
    problems = []
    for repo in repos:
        if repo.lower() not in private:
            problems.append(f"repository {repo} is not a repository of {organization}")
            continue
        groups = [pool.group for pool in policy.pools if pool.group is not None]
        flag = private[repo.lower()]
        if not any(g.allows(repo, flag if isinstance(flag, bool) else None) for g in groups):
            names = ", ".join(repr(g.name) for g in groups)
            problems.append(f"repository {repo} may not use the runner groups {names}")
    return problems


async def refresh(github: GitHubPort, policy: Policy) -> Policy:
    """The policy with its groups listed afresh; on any trouble the groups it had (logged)."""
    orgs = {pool.group.org for pool in policy.pools if pool.group is not None}
    for org in sorted(orgs):
        try:
            groups = await github.list_runner_groups(org)
        except GitHubError as error:
            log.warning("runner groups of %s: not refreshed: %s", org, error)
            continue
        policy, problems = attach(policy, groups)
        for problem in problems:
            log.error("%s; its pool keeps the group as last seen", problem)
    return policy


def _unreadable(organization: str, status: int | None) -> str:
    """Why the organization's runner groups could not be read, in one line."""
    return (
        f"organization {organization}: GitHub answers {status} for its runner groups: no such "
        "organization, or the GitHub credential may not manage its self-hosted runners"
    )
