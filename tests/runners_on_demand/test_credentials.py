"""Tests for runners_on_demand.credentials at an organization, against the GitHub emulator.

The repository path is covered by test_pipeline.py (respx); here a pool with a runner group
makes its runners at the organization, in the group's id, over real HTTP (in-process).
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import httpx
import pytest

from runners_on_demand.config import CredentialMode
from runners_on_demand.contract import JitConfig, RegistrationToken
from runners_on_demand.credentials import GitHubCredentials
from runners_on_demand.decision import Policy, Pool, StartRunner, decide
from runners_on_demand.ports.github import GitHubHttp
from runners_on_demand.ports.github_auth import PatAuth
from runners_on_demand.scope import RunnerGroup
from simulator.github import GitHubEmulator
from tests.runners_on_demand.test_pipeline import EVENT as PIPELINE_EVENT

TOKEN = "ghp_credentials_test"
EVENT = dataclasses.replace(
    PIPELINE_EVENT,
    repo_full_name="acme/app",
    repo_owner="acme",
    repo_name="app",
    repo_html_url="https://github.com/acme/app",
    repo_private=True,
)


@pytest.fixture
async def emulator() -> AsyncIterator[GitHubEmulator]:
    emulator = GitHubEmulator(orgs=["acme"], tokens=[TOKEN])
    emulator.backend.create_repo("acme/app", private=True)
    yield emulator
    emulator.stop()


async def made(
    emulator: GitHubEmulator, mode: CredentialMode
) -> tuple[GitHubCredentials, StartRunner, RunnerGroup, httpx.AsyncClient]:
    listed = emulator.backend.create_runner_group("acme", name="Linux")
    group = RunnerGroup("acme", listed.id, "Linux")
    pool = Pool("org", "github-runner", runner_group="linux", group=group)
    start = decide(EVENT, Policy(pools=(pool,)))
    assert isinstance(start, StartRunner)
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=emulator.app), base_url=emulator.url
    )
    github = GitHubHttp(client, PatAuth(TOKEN))
    credentials = GitHubCredentials(github, mode=mode, runner_group_id=1, remembered=10)
    return credentials, start, group, client


class TestOrgScope:
    async def test_a_jit_runner_at_the_organization_in_the_pools_group(
        self, emulator: GitHubEmulator
    ) -> None:
        credentials, start, group, client = await made(emulator, "jit")
        async with client:
            credential = await credentials.obtain(EVENT, start)
            assert isinstance(credential, JitConfig)
            (runner,) = emulator.backend.actions.list_runners("acme")
            assert (runner.name, runner.group_id) == ("rod-42-1", group.id)
            assert emulator.backend.actions.list_runners("acme/app") == []
            assert await credentials.discard(EVENT, start)  # removed at the organization
            assert emulator.backend.actions.list_runners("acme") == []

    async def test_a_registration_token_of_the_organization(self, emulator: GitHubEmulator) -> None:
        credentials, start, _, client = await made(emulator, "registration-token")
        async with client:
            credential = await credentials.obtain(EVENT, start)
        assert isinstance(credential, RegistrationToken)
        (token,) = emulator.backend.reg_tokens.values()
        assert token.scope == "acme"

    async def test_a_repository_pool_still_registers_at_the_repository(
        self, emulator: GitHubEmulator
    ) -> None:
        credentials, start, _, client = await made(emulator, "jit")
        repository = dataclasses.replace(start, pool=Pool("repo", "github-runner"))
        async with client:
            credential = await credentials.obtain(EVENT, repository)
        assert isinstance(credential, JitConfig)
        assert [r.name for r in emulator.backend.actions.list_runners("acme/app")] == ["rod-42-1"]
