"""The reconciler at an organization over real HTTP: the GitHub and Nomad emulators, real runners.

The org acme has the private repositories app, lib and secret; its runner group linux allows
app and lib. No webhook is delivered: every runner comes from the reconciler, made at the
organization in the group, by JIT config or by the org's registration token (`config.sh
--runnergroup`, the fake runner's register call).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest

from runners_on_demand.carrier import LocalCarrier
from runners_on_demand.config import CredentialMode, ServerSettings
from runners_on_demand.credentials import GitHubCredentials
from runners_on_demand.decision import Policy, Pool
from runners_on_demand.metrics import Metrics
from runners_on_demand.org_groups import resolve
from runners_on_demand.pipeline import Pipeline
from runners_on_demand.ports.github import GitHubHttp
from runners_on_demand.ports.github_auth import PatAuth
from runners_on_demand.ports.nomad import NomadHttp
from runners_on_demand.reconcile.loop import Reconciler, ServedRepos
from runners_on_demand.reconcile.plan import ReconcilePolicy
from runners_on_demand.reconcile.settings import ReconcileSettings
from simulator.github import GitHubEmulator
from simulator.github.actions import JobSpec
from simulator.nomad import NomadEmulator
from tests.runners_on_demand.reconcile.test_loop_emulators import children, eventually, live

TOKEN = "ghp_reconciler_orgs_test"
ORG = "acme"
SERVED = ("acme/app", "acme/lib", "acme/secret")
POOL = Pool("org", "github-runner", runner_group="linux")


@pytest.fixture
def github() -> Iterator[GitHubEmulator]:
    emulator = GitHubEmulator(orgs=[ORG], tokens=[TOKEN]).start()
    backend = emulator.backend
    ids = [backend.create_repo(name, private=True).id for name in SERVED]
    backend.create_runner_group(
        ORG, name="linux", visibility="selected", selected_repository_ids=ids[:2]
    )
    yield emulator
    emulator.stop()


class OrgLoop:
    """A reconciler and its pipeline making org runners, on real HTTP clients."""

    def __init__(self, github: GitHubEmulator, nomad: NomadEmulator, mode: CredentialMode):
        self.github_client = httpx.AsyncClient(base_url=github.url)
        self.nomad_client = httpx.AsyncClient(base_url=nomad.url)
        self.github = GitHubHttp(self.github_client, PatAuth(TOKEN))
        self.nomad = NomadHttp(self.nomad_client)
        self.mode = mode
        self.pipeline: Pipeline | None = None
        self.reconciler: Reconciler | None = None

    async def start(self, **settings: Any) -> OrgLoop:
        """Resolve the runner group as `rod serve` does at start, then build the parts."""
        policy = await resolve(self.github, Policy(pools=(POOL,)), ORG, SERVED[:2])
        server = ServerSettings(workers=2, shutdown_grace_seconds=30.0)
        credentials = GitHubCredentials(
            self.github, mode=self.mode, runner_group_id=1, remembered=100
        )
        carrier = LocalCarrier(credentials, self.nomad)
        self.pipeline = Pipeline(carrier, policy=policy, settings=server, metrics=Metrics())
        self.pipeline.start()
        self.reconciler = Reconciler(
            self.github,
            self.nomad,
            self.pipeline,
            policy=ReconcilePolicy(
                policy, ReconcileSettings(**settings), runner_precreated=self.mode == "jit"
            ),
            repos=ServedRepos(SERVED),
        )
        return self

    async def tick(self) -> list[tuple[str, str]]:
        """One tick, its dispatches carried out; (reason, outcome) of every action."""
        assert self.reconciler is not None and self.pipeline is not None
        report = await self.reconciler.tick()
        assert report.problems == ()
        await self.pipeline.stop()
        self.pipeline.start()
        return [(o.action.reason, str(o)) for o in report.outcomes]

    async def close(self) -> None:
        if self.pipeline is not None:
            await self.pipeline.stop()
        await self.github_client.aclose()
        await self.nomad_client.aclose()


@pytest.fixture
async def make_loop() -> AsyncIterator[Callable[..., Any]]:
    loops: list[OrgLoop] = []

    async def make(
        github: GitHubEmulator, nomad: NomadEmulator, mode: CredentialMode = "jit", **settings: Any
    ) -> OrgLoop:
        loop = await OrgLoop(github, nomad, mode).start(**settings)
        loops.append(loop)
        return loop

    yield make
    for loop in loops:
        await loop.close()


def start_job(github: GitHubEmulator, repo: str) -> int:
    owner, _, name = repo.partition("/")
    spec = JobSpec(name="build", labels=["self-hosted"], duration_seconds=0.2)
    run = github.backend.create_run(owner, name, name="CI", event="push", jobs=[spec])
    return run.jobs[0].id


def job(github: GitHubEmulator, repo: str, job_id: int) -> Any:
    owner, _, name = repo.partition("/")
    return github.backend.get_job(owner, name, job_id)


async def until_done(loop: OrgLoop, github: GitHubEmulator, jobs: dict[int, str]) -> None:
    """Tick until every job is completed (a tick a half second), at most 20 ticks."""
    for _ in range(20):
        if all(job(github, repo, n).status == "completed" for n, repo in jobs.items()):
            return
        await asyncio.sleep(0.5)
        await loop.tick()
    pytest.fail(f"jobs not completed: {[job(github, r, n).status for n, r in jobs.items()]}")


@pytest.mark.parametrize("mode", ["jit", "registration-token"])
async def test_missed_jobs_of_the_groups_repositories_run_on_org_runners_of_the_group(
    github: GitHubEmulator,
    processes: NomadEmulator,
    make_loop: Callable[..., Any],
    mode: CredentialMode,
) -> None:
    served = {start_job(github, "acme/app"): "acme/app", start_job(github, "acme/lib"): "acme/lib"}
    refused = start_job(github, "acme/secret")
    loop = await make_loop(github, processes, mode, idle_grace_seconds=0.0)
    assert await loop.tick() == [("no runner (missed webhook?)", "queued")] * 2
    await until_done(loop, github, served)
    for job_id, repo in served.items():
        done = job(github, repo, job_id)
        assert (done.conclusion, done.runner_group_name) == ("success", "linux")
        assert done.runner_name.startswith("rod-")
    assert job(github, "acme/secret", refused).status == "queued"  # the group refuses it
    assert github.backend.actions.list_runners(ORG) == []  # ephemeral: gone after their job
    assert all(github.backend.actions.list_runners(r) == [] for r in SERVED)
    await eventually("every child to end", children(processes), lambda found: not live(found))
    assert await loop.tick() == []


async def test_a_cancelled_jobs_org_runner_is_retired_at_the_organization(
    github: GitHubEmulator, silent: NomadEmulator, make_loop: Callable[..., Any]
) -> None:
    job_id = start_job(github, "acme/app")
    loop = await make_loop(github, silent, idle_grace_seconds=0.0)
    await loop.tick()
    (made,) = github.backend.actions.list_runners(ORG)
    assert made.name == f"rod-{job_id}-1"
    github.backend.cancel_job(job_id)
    assert await loop.tick() == [
        ("no queued job for its labels", "retired: runner removed, child stopped")
    ]
    assert github.backend.actions.list_runners(ORG) == []
    assert await loop.tick() == []
