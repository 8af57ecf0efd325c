"""`rod listen`'s app against both emulators over real HTTP, with real (fake) runners.

The listener runs in this event loop through the app's lifespan; the Nomad emulator runs the
real job spec, whose task is the fake runner (`python -m simulator.runner`) or, where a runner
must never take its job, a function that waits until Nomad stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from runners_on_demand.config import Settings, load_settings
from runners_on_demand.listen.protocol import Session, Statistics
from runners_on_demand.listen.service import create_app
from simulator.github import GitHubEmulator
from simulator.nomad import NomadEmulator
from tests.runners_on_demand.listen.conftest import (
    REPO,
    TOKEN,
    calls,
    control,
    make_client,
    queue_job,
)

# Fixtures `processes` and `silent` (tests/runners_on_demand/conftest.py): the Nomad emulator with
# the real runner job, its task the fake runner or a runner that never connects.
from tests.runners_on_demand.reconcile.test_loop_emulators import eventually


def settings(github: GitHubEmulator, nomad: NomadEmulator, **listen: Any) -> Settings:
    """`rod listen`'s settings for the repository's scale set `rod`."""
    table = {"url": f"{github.url}/{REPO}", "scale_set": "rod", **listen}
    lines = [f"{key} = {value!r}".replace("'", '"') for key, value in table.items()]
    toml = "[server]\nshutdown_grace_seconds = 5.0\n[listen]\n" + "\n".join(lines) + "\n"
    return load_settings({"GITHUB_TOKEN": TOKEN, "NOMAD_ADDR": nomad.url}, toml, webhook=False)


async def short_sleep(seconds: float) -> None:
    """Backoffs shrink to at most 50 ms: the tests wait for outcomes, not for timers."""
    await asyncio.sleep(min(seconds, 0.05))


@contextlib.asynccontextmanager
async def listening(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan running; a client on its health routes."""
    app = create_app(settings, sleep=short_sleep, owner="test-host")
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://rod") as client:
            yield client


def metric(text: str, name: str, **labels: str) -> float:
    """One sample of a Prometheus exposition (0 when absent)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


async def scale_set(github: GitHubEmulator) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = control(github, "GET", "scalesets")
    return result


async def rest(github: GitHubEmulator, path: str) -> Any:
    async with httpx.AsyncClient(base_url=github.url) as client:
        answer = await client.get(path, headers={"Authorization": f"Bearer {TOKEN}"})
    return answer.json()


async def session_held(github: GitHubEmulator) -> bool:
    found = await scale_set(github)
    return bool(found and found[0]["sessions"])


async def job(github: GitHubEmulator, job_id: int) -> dict[str, Any]:
    found: dict[str, Any] = await rest(github, f"/repos/{REPO}/actions/jobs/{job_id}")
    return found


async def drained(github: GitHubEmulator, nomad: NomadEmulator) -> tuple[int, int]:
    """(runners registered, live Nomad children)."""
    runners = (await rest(github, f"/repos/{REPO}/actions/runners"))["runners"]
    async with httpx.AsyncClient(base_url=nomad.url) as client:
        stubs = (await client.get("/v1/jobs", params={"prefix": "github-runner/"})).json()
    live = [s for s in stubs if s["Status"] != "dead" and not s["Stop"]]
    return len(runners), len(live)


def completed(found: dict[str, Any]) -> bool:
    return bool(found["status"] == "completed")


class TestServing:
    async def test_jobs_run_once_each_and_the_fleet_drains_to_zero(
        self, github: GitHubEmulator, processes: NomadEmulator
    ) -> None:
        async with listening(settings(github, processes)) as client:
            await eventually("a session", lambda: session_held(github), bool)
            ready = await client.get("/readyz")
            assert ready.json() == {
                "session": "ok",
                "queue": "ok",
                "nomad": "ok",
                "runner_jobs": "ok",
            }
            missing = await client.get("/nope")  # errors in one line of JSON, as rod serve's
            assert (missing.status_code, missing.json()) == (404, {"error": "Not Found"})
            job_ids = [queue_job(github, ["rod"], name=f"job-{n}") for n in range(3)]
            for job_id in job_ids:
                done = await eventually(
                    "the job to complete", lambda j=job_id: job(github, j), completed
                )
                assert done["conclusion"] == "success"
                assert done["runner_name"].startswith("rod-ss")
            names = {(await job(github, j))["runner_name"] for j in job_ids}
            assert len(names) == 3
            await eventually(
                "zero runners", lambda: drained(github, processes), lambda n: n == (0, 0)
            )
            text = (await client.get("/metrics")).text
            assert metric(text, "rod_listen_runners_queued_total") == 3
            assert metric(text, "rod_dispatches_total", outcome="dispatched") == 3
            assert metric(text, "rod_listen_jobs_acquired_total") == 3
            assert (await client.get("/healthz")).json() == {"status": "ok"}
        assert not await session_held(github)  # deleted on the way out
        assert (await scale_set(github))[0]["labels"] == [{"type": "System", "name": "rod"}]


def nomad_health_calls(nomad: NomadEmulator) -> int:
    """How many `GET /v1/agent/health` the Nomad emulator answered."""
    params = {"method": "GET", "path": "/v1/agent/health"}
    return len(httpx.get(f"{nomad.url}/_sim/requests", params=params, timeout=10).json())


class TestReadiness:
    async def test_asking_often_asks_nomad_once_per_few_seconds(
        self, github: GitHubEmulator, processes: NomadEmulator
    ) -> None:
        # /readyz is unauthenticated (bound to 0.0.0.0 in deploy/nomad/listen.nomad.hcl): each
        # GET made one Nomad call, as rod serve's did before it reused its answer (app.py).
        async with listening(settings(github, processes)) as client:
            await eventually("a session", lambda: session_held(github), bool)
            before = nomad_health_calls(processes)
            answers = await asyncio.gather(*(client.get("/readyz") for _ in range(20)))
            assert nomad_health_calls(processes) - before == 1
            assert {answer.json()["nomad"] for answer in answers} == {"ok"}

    async def test_its_pools_runner_job_missing_is_not_ready(self, github: GitHubEmulator) -> None:
        # Every dispatch would fail ("parameterized job not found") after making a JIT runner.
        with NomadEmulator() as nomad:
            async with listening(settings(github, nomad)) as client:
                await eventually("a session", lambda: session_held(github), bool)
                ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json() == {
            "session": "ok",
            "queue": "ok",
            "nomad": "ok",
            "runner_jobs": "runner job github-runner is not registered in namespace default",
        }


async def credentials_stored(nomad: NomadEmulator) -> list[str]:
    """The paths of the runner credential Variables in Nomad."""
    prefix = "nomad/jobs/github-runner/credentials/"
    async with httpx.AsyncClient(base_url=nomad.url) as client:
        listed = (await client.get("/v1/vars", params={"prefix": prefix})).json()
    return [variable["Path"] for variable in listed]


class TestCredentialVariables:
    async def test_each_runner_s_credential_is_stored_then_destroyed_once_spent(
        self, github: GitHubEmulator, processes: NomadEmulator
    ) -> None:
        tuned = settings(github, processes, sweep_interval_seconds=1, boot_timeout_seconds=3)
        async with listening(tuned):
            await eventually("a session", lambda: session_held(github), bool)
            job_id = queue_job(github, ["rod"])
            stored = await eventually(
                "a stored credential", lambda: credentials_stored(processes), bool
            )
            done = await eventually("the job to complete", lambda: job(github, job_id), completed)
            assert stored == [f"nomad/jobs/github-runner/credentials/{done['runner_name']}"]
            await eventually(
                "no credential left", lambda: credentials_stored(processes), lambda paths: not paths
            )


class TestNoSecrets:
    async def test_no_credential_reaches_the_log(
        self, github: GitHubEmulator, processes: NomadEmulator, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.DEBUG)
        async with listening(settings(github, processes)) as client:
            await eventually("a session", lambda: session_held(github), bool)
            control(
                github,
                "POST",
                "scalesets/faults",
                {"mode": "unauthorized", "operation": "get_message"},
            )
            job_id = queue_job(github, ["rod"])
            await eventually("the job to run", lambda: job(github, job_id), completed)
            metrics = (await client.get("/metrics")).text
            health = (await client.get("/readyz")).text
            queue_tokens = [session.token for session in github.backend.scalesets.sessions.values()]
        issued = [TOKEN, *github.backend.reg_tokens, *queue_tokens]
        assert len(issued) >= 3
        for text in (caplog.text, metrics, health):
            assert not [secret for secret in issued if secret in text]
            assert "eyJ" not in text  # no admin JWT, no JIT config (base64 of a JSON object)


class TestSessions:
    async def test_a_stale_session_is_waited_out_then_the_statistics_catch_up(
        self, github: GitHubEmulator, processes: NomadEmulator, http: httpx.AsyncClient
    ) -> None:
        # A listener that crashed: it acquired a job (now assigned) and never made its runner.
        crashed = make_client(http, github)
        made = await crashed.create_scale_set("rod", 1, ("rod",))
        session = await crashed.create_session(made.id, "crashed-host")
        job_id = queue_job(github, ["rod"])
        message = await crashed.get_message(session, 0, 10)
        assert message is not None
        await crashed.acquire_jobs(session, [message.entries[0].request_id])
        await crashed.delete_message(session, message.id)
        async with listening(settings(github, processes)) as client:
            refused = await eventually(
                "a 409", lambda: client.get("/readyz"), lambda r: "409" in r.text
            )
            assert refused.status_code == 503
            assert "already has an active session" in refused.json()["session"]
            control(github, "POST", "clock", {"advance_seconds": 301})  # the session expires
            done = await eventually("the job to run", lambda: job(github, job_id), completed)
            assert done["runner_name"].startswith(f"rod-ss{made.id}-")
            text = (await client.get("/metrics")).text
            assert metric(text, "rod_listen_sessions_total", outcome="conflict") >= 1
            assert metric(text, "rod_listen_sessions_total", outcome="created") == 1

    async def test_an_expired_queue_token_is_renewed_and_polling_goes_on(
        self, github: GitHubEmulator, processes: NomadEmulator
    ) -> None:
        async with listening(settings(github, processes)) as client:
            await eventually("a session", lambda: session_held(github), bool)
            fault = {"mode": "unauthorized", "operation": "get_message"}
            control(github, "POST", "scalesets/faults", fault)
            job_id = queue_job(github, ["rod"])
            await eventually("the job to run", lambda: job(github, job_id), completed)
            text = (await client.get("/metrics")).text
            assert metric(text, "rod_listen_sessions_total", outcome="refreshed") == 1
            assert metric(text, "rod_listen_sessions_total", outcome="created") == 1

    async def test_a_session_gone_from_under_the_listener_is_opened_again(
        self, github: GitHubEmulator, processes: NomadEmulator, http: httpx.AsyncClient
    ) -> None:
        async with listening(settings(github, processes)) as client:
            await eventually("a session", lambda: session_held(github), bool)
            (found,) = await scale_set(github)
            (held,) = found["sessions"]
            gone = Session(held["sessionId"], found["id"], "", "unused", Statistics())
            await make_client(http, github).delete_session(gone)
            job_id = queue_job(github, ["rod"])
            await eventually("the job to run", lambda: job(github, job_id), completed)
            text = (await client.get("/metrics")).text
            assert metric(text, "rod_listen_sessions_total", outcome="created") == 2
            assert metric(text, "rod_listen_sessions_total", outcome="lost") == 1

    async def test_transient_answers_of_the_queue_are_not_a_crash(
        self, github: GitHubEmulator, processes: NomadEmulator
    ) -> None:
        async with listening(settings(github, processes)) as client:
            await eventually("a session", lambda: session_held(github), bool)
            for fault in (
                {"mode": "empty", "operation": "get_message"},
                {"mode": "server_error", "operation": "get_message", "count": 5},
                {"mode": "bom", "operation": "get_message"},
            ):
                control(github, "POST", "scalesets/faults", fault)
            job_id = queue_job(github, ["rod"])
            await eventually("the job to run", lambda: job(github, job_id), completed)
            text = (await client.get("/metrics")).text
            assert metric(text, "rod_listen_polls_total", outcome="error") == 2
            assert (await client.get("/healthz")).status_code == 200


class TestRetiring:
    async def test_runners_a_dead_listener_never_dispatched_are_removed(
        self, github: GitHubEmulator, processes: NomadEmulator, http: httpx.AsyncClient
    ) -> None:
        client = make_client(http, github)
        made = await client.create_scale_set("rod", 1, ("rod",))
        await client.generate_jit_config(made.id, f"rod-ss{made.id}-deadbeef")
        other, _ = await client.generate_jit_config(made.id, "someone-elses")
        async with listening(settings(github, processes)) as health:
            await eventually(
                "the orphan to go",
                lambda: client.find_runner(f"rod-ss{made.id}-deadbeef"),
                lambda r: r is None,
            )
            text = (await health.get("/metrics")).text
            assert metric(text, "rod_listen_runners_retired_total", reason="orphan") == 1
        assert await client.find_runner("someone-elses") == (other, made.id)

    async def test_an_idle_runner_whose_job_was_cancelled_is_retired(
        self, github: GitHubEmulator, silent: NomadEmulator
    ) -> None:
        async with listening(settings(github, silent, idle_grace_seconds=0)) as client:
            await eventually("a session", lambda: session_held(github), bool)
            job_id = queue_job(github, ["rod"])
            await eventually("a runner", lambda: drained(github, silent), lambda n: n == (1, 1))
            control(github, "POST", f"jobs/{job_id}/cancel")
            await eventually(
                "the runner retired", lambda: drained(github, silent), lambda n: n == (0, 0)
            )
            text = (await client.get("/metrics")).text
            assert metric(text, "rod_listen_runners_retired_total", reason="surplus") == 1
            assert (
                calls(
                    github,
                    "DELETE",
                    "/_services/broker/rest/_apis/distributedtask/pools/0/agents/*",
                )
                == 1
            )
