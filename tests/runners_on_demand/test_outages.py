"""Nomad and GitHub misbehaving, seen from the webhook edge and the workers' retries.

The dispatcher runs in-process (so sleep and clock can be injected) and talks real HTTP to the
GitHub and Nomad emulators, whose `/_sim/faults` and `/_sim/clock` make the outages. Properties:
deliveries are acknowledged 202 while an upstream is down (503 only when the queue is full), the
dispatch happens once it is back, exactly one Nomad child per job, and rate limits are waited out
(the requested sleep reaches the reset or Retry-After) instead of hammered.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import httpx
import pytest
from starlette.applications import Starlette

from runners_on_demand.app import create_app
from runners_on_demand.backoff import Backoff
from runners_on_demand.config import load_settings
from simulator.github import GitHubEmulator
from simulator.github.actions import JobSpec
from simulator.harness.nomad_client import RUNNER_JOB_SPEC, NomadApi
from simulator.harness.stack import runner_variables
from simulator.harness.waiting import wait_for
from simulator.nomad import NomadEmulator
from simulator.serving import free_port
from tests.runners_on_demand.fakes import Clock

SAMPLE = json.loads(
    (Path(__file__).parents[1] / "samples" / "workflow_job" / "06.queued.json").read_text()
)
SAMPLE["workflow_job"]["status"] = "queued"  # approved: the example still awaits approval
SECRET = "outage-webhook-secret"
TOKEN = "ghp_outage_token"
REPO = "octo-org/hello-world"
JIT_PATH = f"/repos/{REPO}/actions/runners/generate-jitconfig"
RUNNER_JOB = "github-runner"
DISPATCH_PATH = f"/v1/job/{RUNNER_JOB}/dispatch"
# A budget short enough that a worker gives up within six injected failures.
SIX_TRIES = Backoff(max_attempts=6)


def delivery(job_id: int, delivery_id: str | None = None) -> tuple[bytes, dict[str, str]]:
    """A signed `workflow_job` `queued` delivery for job `job_id` of REPO."""
    payload: dict[str, Any] = copy.deepcopy(SAMPLE)
    payload["workflow_job"]["id"] = job_id
    payload["repository"]["full_name"] = REPO
    payload["repository"]["html_url"] = f"https://github.com/{REPO}"
    payload.pop("installation")
    body = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "workflow_job",
        "X-GitHub-Delivery": delivery_id or f"delivery-{job_id}",
        "X-GitHub-Hook-ID": "7",
        "X-Hub-Signature-256": signature,
    }
    return body, headers


@dataclass
class Sleeper:
    """An injected `sleep`: records each requested wait and runs `then(wait)` instead of waiting."""

    then: Callable[[float], Awaitable[None]] | None = None
    waits: list[float] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if self.then is not None:
            await self.then(seconds)
        await asyncio.sleep(0)


@dataclass
class Rig:
    app: Starlette
    client: httpx.AsyncClient

    async def post(self, job_id: int, delivery_id: str | None = None) -> httpx.Response:
        body, headers = delivery(job_id, delivery_id)
        return await self.client.post("/webhook", content=body, headers=headers)

    async def drain(self) -> None:
        await self.app.state.pipeline.join()

    def dispatches(self, outcome: str) -> float:
        registry = self.app.state.metrics.registry
        return float(registry.get_sample_value("rod_dispatches_total", {"outcome": outcome}) or 0)


@asynccontextmanager
async def dispatcher(
    github_url: str,
    nomad_url: str,
    sleep: Sleeper,
    *,
    toml: str = "",
    clock: Callable[[], float] | None = None,
    github_transport: httpx.AsyncBaseTransport | None = None,
    nomad_transport: httpx.AsyncBaseTransport | None = None,
    backoff: Backoff | None = None,
) -> AsyncIterator[Rig]:
    """`create_app` against the emulators over real HTTP, lifespan running."""
    env = {
        "GITHUB_WEBHOOK_SECRET": SECRET,
        "GITHUB_TOKEN": TOKEN,
        "GITHUB_API_URL": github_url,
        "NOMAD_ADDR": nomad_url,
    }
    extra: dict[str, Any] = {"clock": clock} if clock is not None else {}
    app = create_app(
        load_settings(env, toml),
        sleep=sleep,
        github_transport=github_transport,
        nomad_transport=nomad_transport,
        backoff=backoff,
        **extra,
    )
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://rod") as client,
    ):
        yield Rig(app, client)


@pytest.fixture
def github() -> Iterator[GitHubEmulator]:
    emulator = GitHubEmulator(repos=[REPO], tokens=[TOKEN]).start()
    yield emulator
    emulator.stop()


def start_nomad(port: int = 0) -> NomadEmulator:
    """The Nomad emulator with the real runner job spec registered."""
    emulator = NomadEmulator(driver="inprocess", port=port).start()
    NomadApi(emulator.url).register_spec(RUNNER_JOB_SPEC, runner_variables())
    return emulator


@pytest.fixture
def nomad() -> Iterator[NomadEmulator]:
    emulator = start_nomad()
    yield emulator
    emulator.stop()


async def children(nomad_url: str) -> dict[str, list[str]]:
    """Runner job children by their `GITHUB_JOB_ID` meta."""
    async with httpx.AsyncClient(base_url=nomad_url) as client:
        stubs = (await client.get("/v1/jobs", params={"prefix": f"{RUNNER_JOB}/"})).json()
        found: dict[str, list[str]] = {}
        for stub in stubs:
            if stub.get("ParentID") != RUNNER_JOB:
                continue
            job = (await client.get(f"/v1/job/{stub['ID']}")).json()
            found.setdefault(job["Meta"]["GITHUB_JOB_ID"], []).append(job["ID"])
        return found


async def inject(base_url: str, **fault: Any) -> None:
    """`POST /_sim/faults` on an emulator."""
    async with httpx.AsyncClient(base_url=base_url) as client:
        (await client.post("/_sim/faults", json=fault)).raise_for_status()


def rest(github_url: str, path: str) -> Any:
    """A GitHub REST answer, with the dispatcher's token."""
    answer = httpx.get(f"{github_url}{path}", headers={"Authorization": f"Bearer {TOKEN}"})
    answer.raise_for_status()
    return answer.json()


async def calls(base_url: str, method: str, path: str) -> list[dict[str, Any]]:
    """The emulator's log of requests matching `method` and `path` (a glob)."""
    async with httpx.AsyncClient(base_url=base_url) as client:
        params = {"method": method, "path": path}
        recorded: list[dict[str, Any]] = (await client.get("/_sim/requests", params=params)).json()
        return recorded


class TestNomadOutage:
    async def test_failing_dispatches_are_retried_after_the_202(
        self, github: GitHubEmulator, nomad: NomadEmulator
    ) -> None:
        await inject(nomad.url, method="POST", path=DISPATCH_PATH, count=3, status=500)
        sleep = Sleeper()
        async with dispatcher(github.url, nomad.url, sleep) as rod:
            answers = [await rod.post(job) for job in (501, 502)]
            assert [a.status_code for a in answers] == [202, 202]
            await rod.drain()
            # Redeliveries, same or new delivery id, change nothing and cost no GitHub call.
            jit_calls = len(await calls(github.url, "POST", JIT_PATH))
            assert (await rod.post(501)).json() == {"duplicate": "rod-501-1"}
            assert (await rod.post(502, "redelivery-502")).json() == {"duplicate": "rod-502-1"}
            await rod.drain()
            assert len(await calls(github.url, "POST", JIT_PATH)) == jit_calls
        assert {job: len(ids) for job, ids in (await children(nomad.url)).items()} == {
            "501": 1,
            "502": 1,
        }
        statuses = [r["status"] for r in await calls(nomad.url, "POST", DISPATCH_PATH)]
        assert statuses.count(500) == 3 and len(sleep.waits) == 3
        assert statuses.count(200) == 2

    async def test_unreachable_nomad_then_back(self, github: GitHubEmulator) -> None:
        port = free_port()
        started: list[NomadEmulator] = []

        async def nomad_comes_back(_: float) -> None:
            if len(sleep.waits) == 2:  # after two refused connections
                started.append(await asyncio.to_thread(start_nomad, port))

        sleep = Sleeper(nomad_comes_back)
        try:
            async with dispatcher(github.url, f"http://127.0.0.1:{port}", sleep) as rod:
                assert (await rod.client.get("/readyz")).status_code == 503
                assert (await rod.post(601)).json() == {"queued": "rod-601-1"}
                await rod.drain()
                assert rod.dispatches("dispatched") == 1
            assert len(sleep.waits) == 2 and started
            assert await children(started[0].url) == {"601": [ANY]}
        finally:
            for emulator in started:
                emulator.stop()

    async def test_outage_longer_than_the_retry_budget_is_reported_and_redeliverable(
        self, github: GitHubEmulator, nomad: NomadEmulator
    ) -> None:
        await inject(nomad.url, method="POST", path=DISPATCH_PATH, count=6, status=503)
        sleep = Sleeper()
        async with dispatcher(github.url, nomad.url, sleep, backoff=SIX_TRIES) as rod:
            assert (await rod.post(701)).status_code == 202
            await rod.drain()
            assert rod.dispatches("failed") == 1 and len(sleep.waits) == 5
            assert await children(nomad.url) == {}
            assert len(await calls(nomad.url, "POST", DISPATCH_PATH)) == 6  # none after giving up
            # The dispatcher forgets a failed delivery, so GitHub's redelivery is taken again.
            assert (await rod.post(701)).json() == {"queued": "rod-701-1"}
            await rod.drain()
        assert len(await calls(nomad.url, "POST", DISPATCH_PATH)) == 7
        assert list(await children(nomad.url)) == ["701"]

    async def test_redelivery_after_giving_up_gets_a_runner(
        self, github: GitHubEmulator, nomad: NomadEmulator
    ) -> None:
        await inject(nomad.url, method="POST", path=DISPATCH_PATH, count=6, status=503)
        async with dispatcher(github.url, nomad.url, Sleeper(), backoff=SIX_TRIES) as rod:
            assert (await rod.post(701)).status_code == 202
            await rod.drain()
            assert rod.dispatches("failed") == 1
            assert (await rod.post(701)).status_code == 202
            await rod.drain()
        assert list(await children(nomad.url)) == ["701"]

    async def test_two_minute_outage_loses_nothing(
        self, github: GitHubEmulator, nomad: NomadEmulator
    ) -> None:
        upstream = httpx.AsyncHTTPTransport()
        sleep = Sleeper()

        class DownForTwoMinutes(httpx.AsyncBaseTransport):
            """Nomad answering 503 until the worker has waited 120 s (of injected time)."""

            async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
                if sum(sleep.waits) < 120:
                    return httpx.Response(503, text="No cluster leader")
                return await upstream.handle_async_request(request)

        transport = DownForTwoMinutes()
        async with dispatcher(github.url, nomad.url, sleep, nomad_transport=transport) as rod:
            assert (await rod.post(1001)).status_code == 202
            await rod.drain()
        await upstream.aclose()
        assert list(await children(nomad.url)) == ["1001"]

    async def test_full_queue_answers_503_until_nomad_is_back(
        self, github: GitHubEmulator, nomad: NomadEmulator
    ) -> None:
        await inject(nomad.url, method="POST", path=DISPATCH_PATH, count=1, status=503)
        back = asyncio.Event()

        async def until_back(_: float) -> None:
            await back.wait()

        sleep = Sleeper(until_back)
        toml = "[server]\nqueue_size = 1\nworkers = 1\n"
        async with dispatcher(github.url, nomad.url, sleep, toml=toml) as rod:
            assert (await rod.post(801)).status_code == 202
            while not sleep.waits:  # the only worker now holds 801, waiting for Nomad
                await asyncio.sleep(0.01)
            assert (await rod.post(802)).status_code == 202  # fills the queue
            full = await rod.post(803)
            assert full.status_code == 503
            assert full.json() == {"error": "dispatch queue is full; redeliver this delivery later"}
            back.set()
            await rod.drain()
            assert (await rod.post(803)).json() == {"queued": "rod-803-1"}  # the redelivery
            await rod.drain()
        found = await children(nomad.url)
        assert {job: len(ids) for job, ids in found.items()} == {"801": 1, "802": 1, "803": 1}


class AnswerTimeout(httpx.AsyncBaseTransport):
    """The dispatcher's Nomad client giving up after `seconds`, as its 10 s timeout does."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.upstream = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await asyncio.wait_for(self.upstream.handle_async_request(request), self.seconds)
        except TimeoutError:
            raise httpx.ReadTimeout("timed out", request=request) from None


class TestDispatchAnsweredLate:
    async def test_the_child_nomad_committed_keeps_its_runner(self, github: GitHubEmulator) -> None:
        # Issue 10 item 1: Nomad commits the dispatch but answers after the client's timeout;
        # the retry hears "already dispatched". The dispatcher then deleted the JIT runner, the
        # very credential of the child that exists: its runner got 401 and the job waited.
        nomad = NomadEmulator(driver="process").start()
        try:
            NomadApi(nomad.url).register_spec(RUNNER_JOB_SPEC, runner_variables())
            # The job waits for an approval: its runner connects and idles, deletable (not busy).
            spec = JobSpec("build", labels=SAMPLE["workflow_job"]["labels"], duration_seconds=0.2,
                           waiting=True)  # fmt: skip
            owner, name = REPO.split("/")
            job = github.backend.create_run(owner, name, name="CI", event="push", jobs=[spec])
            job_id = job.jobs[0].id
            await inject(nomad.url, method="POST", path=DISPATCH_PATH, hang_seconds=3.0,
                         passthrough=True)  # fmt: skip
            late = AnswerTimeout(1.0)
            async with dispatcher(github.url, nomad.url, Sleeper(), nomad_transport=late) as rod:
                assert (await rod.post(job_id)).json() == {"queued": f"rod-{job_id}-1"}
                await rod.drain()
                assert rod.dispatches("existing") == 1
                runners = await asyncio.to_thread(
                    wait_for,
                    "the child's runner to connect",
                    lambda: rest(github.url, f"/repos/{REPO}/actions/runners")["runners"],
                    lambda found: [r["status"] for r in found] == ["online"],
                    timeout=30,
                )
                github.backend.approve_job(job_id)
                done = await asyncio.to_thread(
                    wait_for,
                    "the job to run on the child's runner",
                    lambda: rest(github.url, f"/repos/{REPO}/actions/jobs/{job_id}"),
                    lambda found: found["status"] == "completed",
                    timeout=30,
                )
            await late.upstream.aclose()
            assert (done["conclusion"], done["runner_name"]) == ("success", f"rod-{job_id}-1")
            assert [r["name"] for r in runners] == [f"rod-{job_id}-1"]
            assert await calls(github.url, "DELETE", "/repos/*/actions/runners/*") == []
            assert {job: len(ids) for job, ids in (await children(nomad.url)).items()} == {
                str(job_id): 1
            }
        finally:
            nomad.stop()


class TestGitHubRateLimits:
    async def test_spent_limit_holds_every_job_in_order_until_the_reset(
        self, nomad: NomadEmulator
    ) -> None:
        # Issue 10 item 5: 300 queued deliveries made 300 refused generate-jitconfig calls and
        # dropped the jobs. Now the first refusal closes the gate: the rest wait without a call
        # and are all served, first come first served, after the reset.
        github = GitHubEmulator(repos=[REPO], tokens=[TOKEN], rate_limit=30).start()
        try:
            for _ in range(30):  # another tool sharing the token spends the hour's budget
                spent = httpx.get(
                    f"{github.url}/repos/{REPO}/actions/runners",
                    headers={"Authorization": f"Bearer {TOKEN}"},
                )
            assert spent.headers["x-ratelimit-remaining"] == "0"
            reset = int(spent.headers["x-ratelimit-reset"])
            clock = github.backend.clock
            sleep = Sleeper(lambda seconds: asyncio.to_thread(clock.advance, seconds))
            toml = "[server]\nworkers = 1\n"  # one worker: the order on GitHub is the queue's
            jobs = list(range(1201, 1221))
            async with dispatcher(
                github.url, nomad.url, sleep, toml=toml, clock=github.backend.clock.now
            ) as rod:
                for job in jobs:
                    assert (await rod.post(job)).json() == {"queued": f"rod-{job}-1"}
                await rod.drain()
                assert rod.dispatches("dispatched") == len(jobs)
                assert rod.dispatches("failed") == 0
            statuses = [r["status"] for r in await calls(github.url, "POST", JIT_PATH)]
            assert statuses == [403] + [201] * len(jobs)  # one refusal, no hammering
            assert len(sleep.waits) == 1 and github.backend.clock.now() >= reset
            async with httpx.AsyncClient(base_url=github.url) as client:
                made = (await client.get("/_sim/state")).json()["runners"]
            in_order = [r["name"] for r in sorted(made, key=lambda r: r["id"])]
            assert in_order == [f"rod-{job}-1" for job in jobs]
            assert sorted(await children(nomad.url)) == sorted(str(job) for job in jobs)
        finally:
            github.stop()

    async def test_primary_limit_waits_until_the_reset(self, nomad: NomadEmulator) -> None:
        github = GitHubEmulator(repos=[REPO], tokens=[TOKEN], rate_limit=1).start()
        try:
            # Spend the hour's budget, then move GitHub's clock to 90 s before the reset.
            spent = httpx.get(
                f"{github.url}/repos/{REPO}/actions/runners",
                headers={"Authorization": f"Bearer {TOKEN}"},
            )
            assert spent.headers["x-ratelimit-remaining"] == "0"
            reset = int(spent.headers["x-ratelimit-reset"])
            github.backend.clock.advance(reset - github.backend.clock.now() - 90)

            async def time_passes(seconds: float) -> None:
                github.backend.clock.advance(seconds)
                assert github.backend.clock.now() >= reset  # never retried before the reset

            sleep = Sleeper(time_passes)
            async with dispatcher(
                github.url, nomad.url, sleep, clock=github.backend.clock.now
            ) as rod:
                assert (await rod.post(901)).status_code == 202
                await rod.drain()
                assert rod.dispatches("dispatched") == 1
            assert len(sleep.waits) == 1 and 88 <= sleep.waits[0] <= 91
            statuses = [r["status"] for r in await calls(github.url, "POST", JIT_PATH)]
            assert statuses == [403, 201]  # one refused call, one after the reset: no hammering
            assert list(await children(nomad.url)) == ["901"]
        finally:
            github.stop()

    async def test_secondary_limit_without_headers_waits_a_minute(
        self, github: GitHubEmulator, nomad: NomadEmulator
    ) -> None:
        # https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api#exceeding-the-rate-limit
        message = {"message": "You have exceeded a secondary rate limit. Please wait."}
        await inject(
            github.url,
            method="POST",
            path=JIT_PATH,
            count=1,
            status=403,
            body=json.dumps(message),
            content_type="application/json",
        )
        clock = Clock()
        sleep = Sleeper(clock.advance)
        async with dispatcher(github.url, nomad.url, sleep, clock=clock) as rod:
            assert (await rod.post(911)).status_code == 202
            await rod.drain()
        assert sleep.waits == [60.0]
        assert [r["status"] for r in await calls(github.url, "POST", JIT_PATH)] == [403, 201]
        assert list(await children(nomad.url)) == ["911"]

    async def test_429_retry_after_is_a_floor(
        self, github: GitHubEmulator, nomad: NomadEmulator
    ) -> None:
        upstream = httpx.AsyncHTTPTransport()
        answered: list[int] = []

        class TooManyTwice(httpx.AsyncBaseTransport):
            """GitHub answering 429 with Retry-After to the first two JIT calls."""

            async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
                if request.url.path == JIT_PATH and answered.count(429) < 2:
                    answered.append(429)
                    return httpx.Response(
                        429, headers={"Retry-After": "7"}, json={"message": "Too Many Requests"}
                    )
                response = await upstream.handle_async_request(request)
                answered.append(response.status_code)
                return response

        clock = Clock()
        sleep = Sleeper(clock.advance)
        async with dispatcher(
            github.url,
            nomad.url,
            sleep,
            clock=clock,
            github_transport=TooManyTwice(),
        ) as rod:
            assert (await rod.post(921)).status_code == 202
            await rod.drain()
        await upstream.aclose()
        assert sleep.waits == [7.0, 7.0]
        assert answered == [429, 429, 201]
        assert list(await children(nomad.url)) == ["921"]
