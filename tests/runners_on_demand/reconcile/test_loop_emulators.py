"""The reconciler over real HTTP against the GitHub and Nomad emulators, with real runners.

No webhook is ever delivered here: every runner comes from the reconciler, as after a lost
delivery. The Nomad emulator runs the real job spec; with the process driver its task is the
fake runner (`python -m simulator.runner`), with the in-process driver a function that stands
for a runner that never connects (it waits until stopped) or one that crashes at start.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from click.testing import CliRunner

from runners_on_demand.app import create_app
from runners_on_demand.config import load_settings
from runners_on_demand.ports.github import GitHubHttp
from runners_on_demand.ports.github_auth import PatAuth
from runners_on_demand.ports.nomad import NomadHttp
from runners_on_demand.reconcile.cli import command
from runners_on_demand.reconcile.loop import Reconciler, ServedRepos
from runners_on_demand.reconcile.plan import ReconcilePolicy
from runners_on_demand.reconcile.settings import ReconcileSettings
from simulator.github import GitHubEmulator
from simulator.github.actions import JobSpec
from simulator.nomad import NomadEmulator
from tests.runners_on_demand.fakes import pipeline

SAMPLE = (
    Path(__file__).resolve().parents[2] / "samples" / "workflow_job" / "02.completed.success.json"
)
TOKEN = "ghp_reconciler_test"
REPO = "octo/hello"
T = TypeVar("T")


@pytest.fixture
def github() -> Iterator[GitHubEmulator]:
    with GitHubEmulator(repos=[REPO], tokens=[TOKEN]) as emulator:
        yield emulator


class Loop:
    """A reconciler and its pipeline on real HTTP clients."""

    def __init__(self, github: GitHubEmulator, nomad: NomadEmulator, policy: ReconcilePolicy):
        self.github_client = httpx.AsyncClient(base_url=github.url)
        self.nomad_client = httpx.AsyncClient(base_url=nomad.url)
        github_port = GitHubHttp(self.github_client, PatAuth(TOKEN))
        nomad_port = NomadHttp(self.nomad_client)
        self.pipeline = pipeline(github_port, nomad_port, workers=2, shutdown_grace_seconds=30.0)
        self.reconciler = Reconciler(
            github_port, nomad_port, self.pipeline, policy=policy, repos=ServedRepos([REPO])
        )

    async def tick(self) -> list[tuple[str, str]]:
        """One tick, its dispatches carried out; (reason, outcome) of every action."""
        report = await self.reconciler.tick()
        assert report.problems == ()
        await self.drain()
        return [(o.action.reason, str(o)) for o in report.outcomes]

    async def drain(self) -> None:
        await self.pipeline.stop()
        self.pipeline.start()

    async def close(self) -> None:
        await self.pipeline.stop()
        await self.github_client.aclose()
        await self.nomad_client.aclose()


@pytest.fixture
async def make_loop() -> AsyncIterator[Callable[..., Loop]]:
    loops: list[Loop] = []

    def make(github: GitHubEmulator, nomad: NomadEmulator, **settings: Any) -> Loop:
        loop = Loop(github, nomad, ReconcilePolicy(settings=ReconcileSettings(**settings)))
        loop.pipeline.start()
        loops.append(loop)
        return loop

    yield make
    for loop in loops:
        await loop.close()


async def eventually(
    what: str, probe: Callable[[], Awaitable[T]], holds: Callable[[T], bool], timeout: float = 30.0
) -> T:
    """Poll `probe` until `holds`; fail with the last value after `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await probe()
        if holds(value):
            return value
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"timed out waiting for {what}; last saw {value!r}")
        await asyncio.sleep(0.1)


def children(nomad: NomadEmulator) -> Callable[[], Awaitable[list[dict[str, Any]]]]:
    async def probe() -> list[dict[str, Any]]:
        async with httpx.AsyncClient(base_url=nomad.url) as client:
            stubs = (await client.get("/v1/jobs", params={"prefix": "github-runner/"})).json()
        return [s for s in stubs if s["ParentID"] == "github-runner"]

    return probe


def jobs(github: GitHubEmulator, run_id: int) -> Callable[[], Awaitable[list[dict[str, Any]]]]:
    async def probe() -> list[dict[str, Any]]:
        async with httpx.AsyncClient(base_url=github.url) as client:
            answer = await client.get(
                f"/repos/{REPO}/actions/runs/{run_id}/jobs",
                headers={"Authorization": f"Bearer {TOKEN}"},
            )
        found: list[dict[str, Any]] = answer.json()["jobs"]
        return found

    return probe


def runners(github: GitHubEmulator) -> Callable[[], Awaitable[list[dict[str, Any]]]]:
    async def probe() -> list[dict[str, Any]]:
        async with httpx.AsyncClient(base_url=github.url) as client:
            answer = await client.get(
                f"/repos/{REPO}/actions/runners", headers={"Authorization": f"Bearer {TOKEN}"}
            )
        found: list[dict[str, Any]] = answer.json()["runners"]
        return found

    return probe


def start_run(github: GitHubEmulator, *labels: list[str], seconds: float = 0.2) -> int:
    specs = [
        JobSpec(name=f"job{n}", labels=ls, duration_seconds=seconds) for n, ls in enumerate(labels)
    ]
    return github.backend.create_run("octo", "hello", name="CI", event="push", jobs=specs).id


def live(stubs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for s in stubs if s["Status"] != "dead" and not s["Stop"]]


async def test_missed_webhooks_are_served_despite_job_stealing_and_everything_drains(
    github: GitHubEmulator, processes: NomadEmulator, make_loop: Callable[..., Loop]
) -> None:
    run_id = start_run(github, ["self-hosted"], ["self-hosted", "linux"])
    loop = make_loop(github, processes, idle_grace_seconds=0.0)
    outcomes = await loop.tick()
    assert outcomes == [("no runner (missed webhook?)", "queued")] * 2
    # Either runner may take the plain job (job stealing); then the linux job needs another
    # runner and the plain one has a spare: the next ticks set both right.
    for _ in range(20):
        state = await jobs(github, run_id)(), live(await children(processes)())
        if all(j["status"] == "completed" for j in state[0]) and not state[1]:
            break
        await asyncio.sleep(0.5)
        await loop.tick()
    done = await jobs(github, run_id)()
    assert [(j["status"], j["conclusion"]) for j in done] == [("completed", "success")] * 2
    assert len(await children(processes)()) in (2, 3)  # a third only if a runner was stolen
    assert await runners(github)() == []
    assert await loop.tick() == []  # nothing left to do: scaled to zero


async def test_a_second_tick_while_runners_start_changes_nothing(
    github: GitHubEmulator, silent: NomadEmulator, make_loop: Callable[..., Loop]
) -> None:
    start_run(github, ["self-hosted"], ["self-hosted"])
    loop = make_loop(github, silent)
    assert len(await loop.tick()) == 2
    other = make_loop(github, silent)  # a second replica sees the same world
    assert await other.tick() == []
    assert await loop.tick() == []
    assert len(await children(silent)()) == 2


async def test_a_job_cancelled_before_pickup_leaves_no_runner(
    github: GitHubEmulator, silent: NomadEmulator, make_loop: Callable[..., Loop]
) -> None:
    run_id = start_run(github, ["self-hosted"])
    loop = make_loop(github, silent, idle_grace_seconds=0.0)
    await loop.tick()
    (job,) = await jobs(github, run_id)()
    github.backend.cancel_job(job["id"])
    assert await loop.tick() == [
        ("no queued job for its labels", "retired: runner removed, child stopped")
    ]
    assert await runners(github)() == []
    await eventually(
        "the child to be dead",
        children(silent),
        lambda cs: [(c["Stop"], c["Status"]) for c in cs] == [(True, "dead")],
    )
    assert await loop.tick() == []


async def test_a_runner_that_never_connects_is_replaced_after_the_boot_timeout(
    github: GitHubEmulator, silent: NomadEmulator, make_loop: Callable[..., Loop]
) -> None:
    start_run(github, ["self-hosted"])
    loop = make_loop(github, silent, boot_timeout_seconds=0.5, idle_grace_seconds=0.0)
    await loop.tick()
    await asyncio.sleep(0.6)
    outcomes = await loop.tick()
    assert sorted(outcomes) == [
        ("never connected", "retired: runner removed, child stopped"),
        ("retry 1", "queued"),
    ]
    names = sorted(r["name"] for r in await runners(github)())
    assert len(names) == 1 and names[0].endswith("-r1")


async def test_failed_allocations_are_retried_a_bounded_number_of_times(
    github: GitHubEmulator, crashing: NomadEmulator, make_loop: Callable[..., Loop]
) -> None:
    start_run(github, ["self-hosted"])
    loop = make_loop(github, crashing, max_retries=2)
    for _ in range(3):
        await loop.tick()
        await eventually("the child to fail", children(crashing), lambda cs: not live(cs))
    report = await loop.reconciler.tick()
    assert [o.action.reason for o in report.outcomes] == ["allocation failed"]
    assert report.plan is not None and len(report.plan.gave_up) == 1
    assert len(await children(crashing)()) == 3  # the first runner and two retries
    assert await runners(github)() == []


async def test_a_busy_runner_is_left_alone(
    github: GitHubEmulator, processes: NomadEmulator, make_loop: Callable[..., Loop]
) -> None:
    run_id = start_run(github, ["self-hosted"], seconds=30.0)
    loop = make_loop(github, processes, idle_grace_seconds=0.0)
    await loop.tick()
    await eventually(
        "the runner to be busy", runners(github), lambda rs: [r["busy"] for r in rs] == [True]
    )
    assert await loop.tick() == []
    (job,) = await jobs(github, run_id)()
    assert job["status"] == "in_progress"
    assert len(live(await children(processes)())) == 1


def signed_completed_delivery(secret: str) -> tuple[bytes, dict[str, str]]:
    """A signed `workflow_job completed` delivery from REPO (no runner comes of it)."""
    payload: dict[str, Any] = copy.deepcopy(json.loads(SAMPLE.read_text()))
    payload["repository"]["full_name"] = REPO
    payload.pop("installation", None)
    body = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "workflow_job",
        "X-GitHub-Delivery": "d-1",
        "X-Hub-Signature-256": signature,
    }
    return body, headers


async def test_rod_serve_reconciles_every_interval_the_repositories_webhooks_come_from(
    github: GitHubEmulator, silent: NomadEmulator
) -> None:
    env = {
        "GITHUB_WEBHOOK_SECRET": "s3cret",
        "GITHUB_TOKEN": TOKEN,
        "GITHUB_API_URL": github.url,
        "NOMAD_ADDR": silent.url,
    }
    app = create_app(load_settings(env, "[reconcile]\ninterval_seconds = 0.1\n"))
    start_run(github, ["self-hosted"])  # its `queued` delivery was lost: no hook exists
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://rod") as rod,
    ):
        await asyncio.sleep(0.5)  # five ticks: octo/hello is not served yet
        assert await children(silent)() == []
        body, headers = signed_completed_delivery("s3cret")
        answer = await rod.post("/webhook", content=body, headers=headers)
        assert answer.status_code == 202 and answer.json() == {"ignored": "action:completed"}
        (child,) = await eventually("a runner for the queued job", children(silent), bool)
        metrics = (await rod.get("/metrics")).text
    assert child["ID"].startswith("github-runner/dispatch-")
    assert 'rod_reconcile_actions_total{action="dispatch",result="queued"} 1.0' in metrics


class TestOnceCommand:
    def invoke(self, github: GitHubEmulator, nomad: NomadEmulator, *args: str) -> Any:
        env = {"GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": github.url, "NOMAD_ADDR": nomad.url}
        return CliRunner().invoke(command, [*args, "--repo", REPO], env=env)

    def test_prints_what_it_found_and_did(
        self, github: GitHubEmulator, silent: NomadEmulator
    ) -> None:
        start_run(github, ["self-hosted"])
        result = self.invoke(github, silent, "--once")
        assert result.exit_code == 0, result.output
        assert "repositories: octo/hello" in result.output
        assert "found: 1 queued jobs, 0 Nomad children, 0 runners (0 of ours busy)" in result.output
        assert "  octo/hello [self-hosted]: 1 queued, 0 idle runners" in result.output
        assert "(no runner (missed webhook?)): queued" in result.output
        again = self.invoke(github, silent, "--once")
        assert "did: nothing; all in order" in again.output

    def test_dry_run_changes_nothing(self, github: GitHubEmulator, silent: NomadEmulator) -> None:
        start_run(github, ["self-hosted"])
        result = self.invoke(github, silent, "--dry-run")
        assert result.exit_code == 0, result.output
        assert "would do:" in result.output and "dispatch rod-" in result.output
        assert github.backend.list_runners("octo", "hello") == []

    def test_an_unreachable_nomad_is_reported_and_exits_1(self, github: GitHubEmulator) -> None:
        env = {
            "GITHUB_TOKEN": TOKEN,
            "GITHUB_API_URL": github.url,
            "NOMAD_ADDR": "http://127.0.0.1:9",
        }
        result = CliRunner().invoke(command, ["--once"], env=env)
        assert result.exit_code == 1
        assert "could not read: Nomad: Nomad GET /v1/jobs: ConnectError" in result.output

    def test_a_missing_credential_is_one_line_and_exit_2(self) -> None:
        result = CliRunner().invoke(command, ["--once"], env={"GITHUB_TOKEN": ""})
        assert result.exit_code == 2
        assert result.output.startswith("rod reconcile: no GitHub credential")
