"""Tests for simulator.compose: the readiness wait, and a real Nomad agent where Docker exists."""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from runners_on_demand.contract import DispatchRequest, build_dispatch
from runners_on_demand.decision import Policy, StartRunner, decide
from runners_on_demand.delivery import WorkflowJobEvent, parse_delivery
from simulator import compose
from simulator.compose import (
    AgentNotReady,
    NomadAgent,
    docker_problem,
    node_is_ready,
    start_nomad,
    wait_until_ready,
)
from simulator.emit import Target, build_delivery, workflow_job_payload
from simulator.github.webhooks import Hook
from simulator.serving import ServerThread

ROOT = Path(__file__).resolve().parents[2]
RUNNER_JOB = ROOT / "deploy" / "nomad" / "github-runner.nomad.hcl"

READY = {"Status": "ready", "Drivers": {"raw_exec": {"Healthy": True, "Detected": True}}}


class TestNodeIsReady:
    @pytest.mark.parametrize(
        ("node", "ready"),
        [
            (READY, True),
            ({**READY, "Status": "initializing"}, False),
            ({"Status": "ready", "Drivers": {"raw_exec": {"Healthy": False}}}, False),
            ({"Status": "ready", "Drivers": {"docker": {"Healthy": True}}}, False),
            ({"Status": "ready", "Drivers": None}, False),
        ],
    )
    def test_status_and_raw_exec(self, node: dict[str, Any], ready: bool) -> None:
        assert node_is_ready(node) is ready


def _nomad_standin(nodes_after: int | None) -> tuple[Starlette, list[str]]:
    """Health first 500, then 200; nodes register after `nodes_after` polls (None: never)."""
    calls: list[str] = []

    async def health(request: Request) -> Response:
        calls.append("health")
        ok = calls.count("health") > 1
        return JSONResponse({"server": {"ok": ok}}, status_code=200 if ok else 500)

    async def nodes(request: Request) -> Response:
        calls.append("nodes")
        polls = calls.count("nodes")
        ready = nodes_after is not None and polls > nodes_after
        return JSONResponse([READY] if ready else [{**READY, "Status": "initializing"}])

    routes = [Route("/v1/agent/health", health), Route("/v1/nodes", nodes)]
    return Starlette(routes=routes), calls


class TestWaitUntilReady:
    def test_waits_for_health_then_a_ready_node(self) -> None:
        app, calls = _nomad_standin(nodes_after=2)
        with ServerThread(app) as server, httpx.Client(base_url=server.url) as client:
            wait_until_ready(client, timeout=30, interval=0.01)
        assert calls[0] == "health" and calls[1] == "health"  # no node query while unhealthy
        assert calls.count("nodes") == 3

    def test_gives_up_with_the_last_reason(self) -> None:
        app, _ = _nomad_standin(nodes_after=None)
        with (
            ServerThread(app) as server,
            httpx.Client(base_url=server.url) as client,
            pytest.raises(AgentNotReady, match="1 node\\(s\\), none ready"),
        ):
            wait_until_ready(client, timeout=1.0, interval=0.01)


class FakeCompose:
    """Stands in for testcontainers' DockerCompose (the `docker compose` CLI): logs, then stop."""

    def __init__(self, logs: tuple[str, str] | None) -> None:
        self.logs = logs
        self.calls: list[str] = []

    def get_logs(self, *services: str) -> tuple[str, str]:
        self.calls.append(f"logs {' '.join(services)}")
        if self.logs is None:
            raise subprocess.CalledProcessError(1, ["docker", "compose", "logs"])
        return self.logs

    def stop(self) -> None:
        self.calls.append("stop")


class TestNomadAgentStop:
    @pytest.fixture(autouse=True)
    def log_dir(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
        monkeypatch.setattr(compose, "LOG_DIR", tmp_path / "acceptance")
        return tmp_path / "acceptance"

    def agent(self, tmp_path: Path, fake: FakeCompose) -> NomadAgent:
        env_file = tmp_path / "compose.env"
        env_file.write_text("NOMAD_RUNNERS_HOST_PORT=1\n")
        return NomadAgent("http://127.0.0.1:1", fake, env_file, service="nomad-runners")

    def test_saves_the_agent_log_before_taking_it_down(self, tmp_path: Path, log_dir: Path) -> None:
        fake = FakeCompose(("==> Nomad agent started!\n", "a warning\n"))
        agent = self.agent(tmp_path, fake)
        agent.stop()
        assert fake.calls == ["logs nomad-runners", "stop"]
        assert (
            log_dir / "nomad-runners.log"
        ).read_text() == "==> Nomad agent started!\na warning\n"
        assert not agent.env_file.exists()

    def test_a_failed_logs_command_still_takes_it_down(self, tmp_path: Path, log_dir: Path) -> None:
        fake = FakeCompose(None)
        self.agent(tmp_path, fake).stop()
        assert fake.calls == ["logs nomad-runners", "stop"]
        assert "failed with exit status 1" in (log_dir / "nomad-runners.log").read_text()


def sample_dispatch() -> DispatchRequest:
    """The dispatch rod makes for a signed queued delivery, through the real core."""
    hook = Hook(1, "octo/hello", 1, ["workflow_job"], True, {"url": "u", "secret": "s"}, 0, 0)
    payload = workflow_job_payload(
        Target("octo/hello"), action="queued", labels=["self-hosted"], job_id=42, run_id=7,
        now=0.0,
    )  # fmt: skip
    headers, body = build_delivery(hook, "workflow_job", payload, delivery_id="d-1")
    event = parse_delivery(headers, body, secret="s")
    assert isinstance(event, WorkflowJobEvent)
    decision = decide(event, Policy())
    assert isinstance(decision, StartRunner)
    return build_dispatch(event, decision)


@pytest.fixture(scope="module")
def agent() -> Iterator[NomadAgent]:
    problem = docker_problem()
    if problem is not None:
        pytest.skip(f"compose backend needs Docker: {problem}")
    running = start_nomad()
    try:
        yield running
    finally:
        running.stop()


@pytest.mark.docker
class TestRealNomad:
    def test_registers_the_runner_job_and_dispatches_once(self, agent: NomadAgent) -> None:
        request = sample_dispatch()
        with httpx.Client(base_url=agent.addr, timeout=30, trust_env=False) as nomad:
            parsed = nomad.post(
                "/v1/jobs/parse", json={"JobHCL": RUNNER_JOB.read_text(), "Canonicalize": True}
            )
            assert parsed.status_code == 200, parsed.text
            job = parsed.json()
            assert job["ParameterizedJob"]["Payload"] == "required"
            registered = nomad.put("/v1/jobs", json={"Job": job})
            assert registered.status_code == 200, registered.text

            url = f"/v1/job/{request.job_id}/dispatch"
            params = {"idempotency_token": request.idempotency_token}
            first = nomad.post(url, params=params, json=request.body())
            second = nomad.post(url, params=params, json=request.body())

            assert first.status_code == 200, first.text
            child_id = first.json()["DispatchedJobID"]
            assert child_id.startswith("github-runner/dispatch-")
            assert second.json()["DispatchedJobID"] == child_id
            assert second.json()["EvalID"] == ""
            child = nomad.get(f"/v1/job/{child_id}").json()
            assert child["Meta"] == {"managed_by": "runners-on-demand", **request.meta}
            decoded = json.loads(base64.b64decode(child["Payload"]))
            assert decoded["repo"] == "octo/hello"
            assert not {"jit_config", "registration_token"} & set(decoded)  # in a Variable
            children = nomad.get("/v1/jobs", params={"prefix": "github-runner/dispatch-"}).json()
            assert [c["ID"] for c in children] == [child_id]
