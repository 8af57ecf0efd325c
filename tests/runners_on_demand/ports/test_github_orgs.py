"""The GitHub port at an organization, against the GitHub emulator over real HTTP (in-process).

Org runners and their JIT configs, runner groups with their repositories, and the generic
`request`/`pages` calls with their counters and conditional requests.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from runners_on_demand.contract import JitConfig
from runners_on_demand.errors import GitHubError
from runners_on_demand.ports.github import GitHubHttp
from runners_on_demand.ports.github_auth import AppAuth, PatAuth
from runners_on_demand.ports.protocols import Removal
from runners_on_demand.scope import RunnerGroup
from simulator.github import GitHubEmulator

TOKEN = "ghp_orgs_port_test"
ORG = "acme"


@pytest.fixture
def emulator() -> Iterator[GitHubEmulator]:
    emulator = GitHubEmulator(repos=[f"{ORG}/app", f"{ORG}/lib"], tokens=[TOKEN])
    backend = emulator.backend
    app = backend.get_repo(ORG, "app")
    backend.create_runner_group(
        ORG, name="Linux", visibility="selected", selected_repository_ids=[app.id]
    )
    yield emulator
    backend.deliverer.wait_idle()  # the pings of hooks made here, before the thread stops
    emulator.stop()


def port(emulator: GitHubEmulator, **options: object) -> tuple[GitHubHttp, httpx.AsyncClient]:
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=emulator.app), base_url=emulator.url
    )
    return GitHubHttp(client, PatAuth(TOKEN), **options), client  # type: ignore[arg-type]


@pytest.fixture
async def github(emulator: GitHubEmulator) -> AsyncIterator[GitHubHttp]:
    made, client = port(emulator)
    async with client:
        yield made


class TestOrgRunners:
    async def test_a_jit_runner_at_the_organization_in_a_group(self, github: GitHubHttp) -> None:
        (linux,) = [g for g in await github.list_runner_groups(ORG) if g.name == "Linux"]
        body = {"name": "rod-7-1", "runner_group_id": linux.id, "labels": ["self-hosted"]}
        made = await github.generate_jitconfig(ORG, None, body)
        assert isinstance(made, JitConfig)
        (listed,) = await github.list_runners(ORG, None)
        assert (listed.repo, listed.name, listed.id) == (ORG, "rod-7-1", made.runner_id)
        assert await github.find_runner(ORG, None, "rod-7-1") == listed
        assert await github.list_runners(ORG, "app") == []  # not a repository runner
        assert await github.delete_runner(ORG, None, listed.id) is Removal.REMOVED
        assert await github.delete_runner(ORG, None, listed.id) is Removal.GONE

    async def test_another_orgs_group_is_refused(
        self, emulator: GitHubEmulator, github: GitHubHttp
    ) -> None:
        emulator.backend.create_org("other")
        other = emulator.backend.create_runner_group("other", name="theirs")
        body = {"name": "rod-8-1", "runner_group_id": other.id, "labels": ["self-hosted"]}
        with pytest.raises(GitHubError) as caught:
            await github.generate_jitconfig(ORG, None, body)
        assert caught.value.status == 404

    async def test_an_org_registration_token(self, github: GitHubHttp) -> None:
        token = await github.create_registration_token(ORG, None)
        assert token == await github.create_registration_token(ORG, None)  # cached
        assert token != await github.create_registration_token(ORG, "app")


class TestListRunnerGroups:
    async def test_groups_with_the_repositories_of_selected_ones(self, github: GitHubHttp) -> None:
        groups = await github.list_runner_groups(ORG)
        assert [(g.id, g.name, g.visibility) for g in groups] == [
            (1, "Default", "all"),
            (groups[1].id, "Linux", "selected"),
        ]
        selected = frozenset({"acme/app"})
        assert groups[1] == RunnerGroup(ORG, groups[1].id, "Linux", "selected", False, selected)

    async def test_an_unknown_organization_is_404(self, github: GitHubHttp) -> None:
        with pytest.raises(GitHubError) as caught:
            await github.list_runner_groups("nobody")
        assert caught.value.status == 404


class TestAsAGitHubApp:
    async def test_org_calls_use_the_orgs_installation_token(self) -> None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        private = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        ).decode()
        public = (
            key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )
        emulator = GitHubEmulator(repos=[f"{ORG}/app"], app_id=77, app_public_key=public)
        transport = httpx.ASGITransport(app=emulator.app)
        try:
            async with httpx.AsyncClient(transport=transport, base_url=emulator.url) as client:
                github = GitHubHttp(client, AppAuth("77", private))
                assert [g.name for g in await github.list_runner_groups(ORG)] == ["Default"]
                body = {"name": "rod-9-1", "runner_group_id": 1, "labels": ["self-hosted"]}
                assert isinstance(await github.generate_jitconfig(ORG, None, body), JitConfig)
        finally:
            emulator.stop()
        paths = [entry.path for entry in emulator.control.requests]
        assert paths[0] == f"/orgs/{ORG}/installation"
        assert paths[1].startswith("/app/installations/") and paths[1].endswith("/access_tokens")
        assert paths.count(f"/orgs/{ORG}/installation") == 1  # the token is cached


class TestGenericCalls:
    async def test_request_and_pages(self, github: GitHubHttp) -> None:
        org = await github.request("GET", f"/orgs/{ORG}")
        assert org["login"] == ORG
        repos = await github.pages(f"/orgs/{ORG}/repos", {"per_page": "1"})
        assert [r["full_name"] for r in repos] == ["acme/app", "acme/lib"]  # two pages
        config = {"url": "http://127.0.0.1:9/webhook", "content_type": "json"}
        hook = await github.request(
            "POST", f"/orgs/{ORG}/hooks", json={"name": "web", "config": config}
        )
        assert await github.request("DELETE", f"/orgs/{ORG}/hooks/{hook['id']}") is None  # 204
        with pytest.raises(GitHubError) as caught:
            await github.request("DELETE", f"/orgs/{ORG}/hooks/{hook['id']}")
        assert caught.value.status == 404

    async def test_every_call_is_counted_and_a_304_is_free(self, github: GitHubHttp) -> None:
        await github.pages(f"/orgs/{ORG}/repos", {"per_page": "100"})
        await github.pages(f"/orgs/{ORG}/repos", {"per_page": "100"})
        assert (github.api_calls, github.not_modified) == (2, 1)
        assert github.rate_limit_remaining is not None

    async def test_the_etag_cache_can_outlive_the_port(self, emulator: GitHubEmulator) -> None:
        etags: OrderedDict[str, tuple[str, object, str | None]] = OrderedDict()
        for expected in (0, 1):
            made, client = port(emulator, etags=etags)
            async with client:
                await made.pages(f"/orgs/{ORG}/repos", {"per_page": "100"})
            assert made.not_modified == expected
