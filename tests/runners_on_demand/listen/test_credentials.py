"""The scale set's JIT configs as the pipeline's credential step, and a runner made twice."""

from __future__ import annotations

import httpx
import pytest

from runners_on_demand.contract import JitConfig
from runners_on_demand.decision import DEFAULT_POOL, StartRunner
from runners_on_demand.errors import UpstreamError
from runners_on_demand.events import Intake, Origin, WorkflowJobEvent
from runners_on_demand.listen.credentials import ScaleSetCredentials
from runners_on_demand.listen.fleet import Fleet
from runners_on_demand.listen.protocol import ScaleSetInfo
from runners_on_demand.observed import Child
from simulator.github import GitHubEmulator
from tests.runners_on_demand.fakes import FakeNomad
from tests.runners_on_demand.listen.conftest import make_client, runner_secret


def event(name: str) -> WorkflowJobEvent:
    return WorkflowJobEvent(
        origin=Origin(Intake.LISTEN, name),
        action="queued",
        job_id=0,
        run_id=0,
        run_attempt=1,
        job_name="",
        workflow_name=None,
        labels=("rod",),
        status="queued",
        conclusion=None,
        runner_id=None,
        runner_name=None,
        repo_full_name="acme/app",
        repo_owner="acme",
        repo_name="app",
        repo_html_url="http://x/acme/app",
        fork=False,
        installation_id=None,
    )


async def credentials_for(
    http: httpx.AsyncClient, github: GitHubEmulator, nomad: FakeNomad
) -> tuple[ScaleSetCredentials, Fleet]:
    client = make_client(http, github)
    scale_set = await client.create_scale_set("rod", 1, ("rod",))
    credentials = ScaleSetCredentials(client, nomad)
    fleet = credentials.fleet = Fleet(scale_set, 0, 10, 0.0)
    return credentials, fleet


def start(name: str) -> StartRunner:
    return StartRunner(pool=DEFAULT_POOL, runner_name=name, labels=("rod",))


def child(name: str) -> Child:
    meta = {"RUNNER_NAME": name}
    return Child(f"github-runner/d-{name}", "github-runner", "running", False, meta, 0.0, False)


class TestObtain:
    async def test_a_jit_config_of_the_scale_set(
        self, http: httpx.AsyncClient, github: GitHubEmulator
    ) -> None:
        credentials, fleet = await credentials_for(http, github, FakeNomad())
        name = f"{fleet.prefix}aaaa"
        made = await credentials.obtain(event(name), start(name))
        assert isinstance(made, JitConfig) and runner_secret(made.encoded)
        assert fleet.ids == {name: made.runner_id}
        assert "redacted" in repr(made)

    async def test_an_earlier_try_nobody_holds_is_made_again(
        self, http: httpx.AsyncClient, github: GitHubEmulator
    ) -> None:
        credentials, fleet = await credentials_for(http, github, FakeNomad())
        name = f"{fleet.prefix}bbbb"
        first = await credentials.obtain(event(name), start(name))
        # The first answer was lost: the name exists, and with no Variable stored the pipeline
        # asks for it to be made again.
        assert await credentials.obtain(event(name), start(name)) is None
        second = await credentials.remake(event(name), start(name))
        assert isinstance(first, JitConfig) and isinstance(second, JitConfig)
        assert second.runner_id != first.runner_id
        client = make_client(http, github)
        assert await client.find_runner(name) == (second.runner_id, fleet.scale_set.id)

    async def test_a_runner_a_nomad_child_carries_is_kept(
        self, http: httpx.AsyncClient, github: GitHubEmulator
    ) -> None:
        nomad = FakeNomad()
        credentials, fleet = await credentials_for(http, github, nomad)
        name = f"{fleet.prefix}cccc"
        first = await credentials.obtain(event(name), start(name))
        nomad.children.append(child(name))
        assert await credentials.obtain(event(name), start(name)) is None
        assert await credentials.remake(event(name), start(name)) is None
        assert isinstance(first, JitConfig)
        assert await make_client(http, github).find_runner(name) == (
            first.runner_id,
            fleet.scale_set.id,
        )

    async def test_a_runner_of_another_scale_set_is_not_touched(
        self, http: httpx.AsyncClient, github: GitHubEmulator
    ) -> None:
        credentials, fleet = await credentials_for(http, github, FakeNomad())
        client = make_client(http, github)
        other = await client.create_scale_set("other", 1, ("other",))
        name = f"{fleet.prefix}dddd"
        theirs, _ = await client.generate_jit_config(other.id, name)
        assert await credentials.obtain(event(name), start(name)) is None
        assert await credentials.remake(event(name), start(name)) is None
        assert await client.find_runner(name) == (theirs, other.id)

    async def test_a_runner_of_a_scale_set_made_again_fails_for_good(
        self, http: httpx.AsyncClient, github: GitHubEmulator
    ) -> None:
        credentials, fleet = await credentials_for(http, github, FakeNomad())
        fleet.scale_set = ScaleSetInfo(fleet.scale_set.id + 1, "rod", 1, ("rod",))
        with pytest.raises(UpstreamError, match="its scale set is gone") as raised:
            await credentials.obtain(event("rod-ss1-old"), start("rod-ss1-old"))
        assert not raised.value.retryable


class TestCleanUp:
    async def test_an_abandoned_runner_is_left_for_the_listener_to_remove(
        self, http: httpx.AsyncClient, github: GitHubEmulator
    ) -> None:
        credentials, fleet = await credentials_for(http, github, FakeNomad())
        credentials.abandoned(start("x"), JitConfig("e30=", 42))
        credentials.abandoned(start("y"), None)
        assert fleet.leftovers == [42]

    async def test_discard_removes_an_idle_runner_and_answers_for_a_gone_one(
        self, http: httpx.AsyncClient, github: GitHubEmulator
    ) -> None:
        credentials, fleet = await credentials_for(http, github, FakeNomad())
        name = f"{fleet.prefix}eeee"
        assert await credentials.obtain(event(name), start(name)) is not None
        assert await credentials.discard(event(name), start(name))
        assert await make_client(http, github).find_runner(name) is None
        assert await credentials.discard(event(name), start(name))  # gone already
