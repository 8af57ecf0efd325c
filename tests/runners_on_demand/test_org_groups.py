"""Tests for runners_on_demand.org_groups: runner groups resolved at start, refreshed later.

`resolve` runs against the GitHub emulator over real HTTP (in-process); `refresh` on the fake.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from runners_on_demand.decision import Policy, Pool
from runners_on_demand.errors import ConfigError, GitHubError
from runners_on_demand.org_groups import attach, refresh, resolve
from runners_on_demand.ports.github import GitHubHttp
from runners_on_demand.ports.github_auth import PatAuth
from runners_on_demand.scope import RunnerGroup
from simulator.github import GitHubEmulator
from tests.runners_on_demand.fakes import FakeGitHub

TOKEN = "ghp_org_groups_test"
MEMBER = "ghp_org_groups_member"
ORG = "acme"
POOL = Pool("org", "github-runner", runner_group="linux")
POLICY = Policy(pools=(POOL,))
LINUX = RunnerGroup(ORG, 2, "Linux", "selected", selected=frozenset({"acme/app"}))


@pytest.fixture
def emulator() -> Iterator[GitHubEmulator]:
    emulator = GitHubEmulator(orgs=[ORG], tokens=[TOKEN])
    backend = emulator.backend
    backend.add_token(MEMBER, admin=False)
    app = backend.create_repo(f"{ORG}/app", private=True)
    backend.create_repo(f"{ORG}/lib", private=True)
    backend.create_repo(f"{ORG}/site")  # public
    backend.create_runner_group(
        ORG, name="Linux", visibility="selected", selected_repository_ids=[app.id]
    )
    yield emulator
    emulator.stop()


@pytest.fixture
async def github(emulator: GitHubEmulator) -> AsyncIterator[GitHubHttp]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=emulator.app), base_url=emulator.url
    ) as client:
        yield GitHubHttp(client, PatAuth(TOKEN))


async def problems(
    github: GitHubHttp, *repos: str, org: str = ORG, policy: Policy = POLICY
) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        await resolve(github, policy, org, repos)
    return caught.value.problems


class TestAttach:
    def test_the_group_of_that_name_any_case(self) -> None:
        resolved, found = attach(POLICY, [RunnerGroup(ORG, 1, "Default"), LINUX])
        assert found == [] and resolved.pools[0].group == LINUX

    def test_a_missing_group_is_one_line_and_the_pool_keeps_what_it_had(self) -> None:
        resolved, found = attach(POLICY, [RunnerGroup(ORG, 1, "Default")])
        assert found == ["pools 'org': acme has no runner group 'linux' (it has: Default)"]
        assert resolved.pools[0].group is None

    def test_pools_without_a_group_are_untouched(self) -> None:
        assert attach(Policy(), [LINUX]) == (Policy(), [])


class TestResolve:
    async def test_the_group_id_and_who_may_use_it(self, github: GitHubHttp) -> None:
        resolved = await resolve(github, POLICY, ORG, ["acme/app", "other/repo"])
        group = resolved.pools[0].group
        assert group is not None and (group.name, group.visibility) == ("Linux", "selected")
        assert group.id > 1 and group.selected == {"acme/app"}

    async def test_an_unknown_organization(self, github: GitHubHttp) -> None:
        assert await problems(github, org="nobody") == [
            "organization nobody: GitHub answers 404 for its runner groups: no such "
            "organization, or the GitHub credential may not manage its self-hosted runners"
        ]

    async def test_a_token_without_admin_rights(self, emulator: GitHubEmulator) -> None:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=emulator.app), base_url=emulator.url
        ) as client:
            member = GitHubHttp(client, PatAuth(MEMBER))
            (line,) = await problems(member)
        assert line.startswith("organization acme: GitHub answers 404 for its runner groups")

    async def test_an_unknown_group(self, github: GitHubHttp) -> None:
        policy = Policy(pools=(Pool("org", "github-runner", runner_group="gpu"),))
        assert await problems(github, policy=policy) == [
            "pools 'org': acme has no runner group 'gpu' (it has: Default, Linux)"
        ]

    async def test_configured_repositories_the_groups_do_not_serve(
        self, github: GitHubHttp
    ) -> None:
        assert await problems(github, "acme/app", "acme/lib", "acme/nope", "acme/site") == [
            "repository acme/lib may not use the runner groups 'Linux'",
            "repository acme/nope is not a repository of acme",
            "repository acme/site may not use the runner groups 'Linux'",
        ]

    async def test_a_repository_pool_serves_what_the_groups_do_not(
        self, github: GitHubHttp
    ) -> None:
        policy = Policy(pools=(POOL, Pool("repo", "github-runner-repo")))
        resolved = await resolve(github, policy, ORG, ["acme/lib"])
        assert resolved.pools[0].group is not None


class TestRefresh:
    async def test_a_group_change_is_picked_up(self) -> None:
        github = FakeGitHub()
        github.groups[ORG] = [LINUX]
        policy, _ = attach(POLICY, [LINUX])
        wider = RunnerGroup(ORG, 2, "Linux", "all")
        github.groups[ORG] = [wider]
        assert (await refresh(github, policy)).pools[0].group == wider

    async def test_trouble_keeps_the_groups_it_had(self) -> None:
        github = FakeGitHub()
        policy, _ = attach(POLICY, [LINUX])
        github.failures[ORG] = GitHubError("GitHub GET ...: 502 Bad Gateway", status=502)
        assert await refresh(github, policy) == policy
        github.failures.clear()
        github.groups[ORG] = []  # the group was deleted: keep the last one seen
        assert await refresh(github, policy) == policy
