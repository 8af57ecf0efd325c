"""The compose backend: a real Nomad dev agent from docker-compose.yml, where Docker exists.

`docker-compose.yml` is the one source of truth for the agent (image, flags, user); this module
starts its `nomad` service through testcontainers' `DockerCompose` (the `docker compose` CLI) on a
free loopback port, then waits as ../shared reference nomad-api.md §5 says: `GET /v1/agent/health`
answers 200, then `GET /v1/nodes` lists a node with Status "ready" whose raw_exec driver is
healthy (health alone does not mean the client has registered). Stopping an agent first saves
its container log to build/acceptance/<service>.log, which CI keeps as an artifact.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from simulator.serving import free_port

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = "docker-compose.yml"
SERVICE = "nomad"
# The acceptance suite's agent: built from the Dockerfile's `nomad-agent` stage, profile acceptance.
RUNNERS_SERVICE = "nomad-runners"
RUNNERS_PROFILE = "acceptance"
# The variable each service's host port comes from in docker-compose.yml (distinct, so that
# both services can run at once).
PORT_VARIABLES = {SERVICE: "NOMAD_HOST_PORT", RUNNERS_SERVICE: "NOMAD_RUNNERS_HOST_PORT"}
# Where an agent's container log is saved when it stops (the harness's log dir).
LOG_DIR = ROOT / "build" / "acceptance"


class ComposeUnavailable(Exception):
    """No Docker engine answers, or the `docker compose` CLI is missing; the message says which."""


class AgentNotReady(Exception):
    """The agent started but no ready node with a healthy raw_exec driver appeared in time."""


def docker_problem() -> str | None:
    """None when a Docker engine answers `ping` and `docker compose` exists; else one line why."""
    import docker  # the SDK is only needed where Docker is used at all

    try:
        docker.from_env().ping()
    except Exception as exc:  # the SDK raises DockerException, requests' and urllib3's errors
        return f"no Docker engine answers ({type(exc).__name__})"
    if shutil.which("docker") is None:
        return "the docker CLI is not installed"
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
    if probe.returncode != 0:
        return "the docker compose plugin is not installed"
    return None


def node_is_ready(node: dict[str, Any]) -> bool:
    """A `GET /v1/nodes` entry that can run the runner task's process driver."""
    raw_exec = (node.get("Drivers") or {}).get("raw_exec") or {}
    return bool(node.get("Status") == "ready" and raw_exec.get("Healthy"))


def wait_until_ready(client: httpx.Client, *, timeout: float, interval: float = 0.5) -> None:
    """Poll health, then nodes, until a ready node exists; `AgentNotReady` after `timeout` s."""
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while time.monotonic() < deadline:
        try:
            health = client.get("/v1/agent/health")
            if health.status_code != 200:
                last = f"/v1/agent/health answered {health.status_code}"
            else:
                nodes = client.get("/v1/nodes").json()
                if any(node_is_ready(node) for node in nodes):
                    return
                last = f"{len(nodes)} node(s), none ready with raw_exec healthy"
        except httpx.TransportError as exc:
            last = f"cannot connect ({type(exc).__name__})"
        time.sleep(interval)
    raise AgentNotReady(f"Nomad agent not ready after {timeout:g}s: {last}")


@dataclass
class NomadAgent:
    """A running dev agent: `addr` is its NOMAD_ADDR on loopback."""

    addr: str
    compose: Any  # testcontainers.compose.DockerCompose
    env_file: Path
    service: str = SERVICE

    @property
    def log_file(self) -> Path:
        """Where stop() saves the agent's container log: build/acceptance/<service>.log."""
        return LOG_DIR / f"{self.service}.log"

    def stop(self) -> None:
        """Save the agent's log, then stop and remove its containers."""
        try:
            self.save_log()
            self.compose.stop()
        finally:
            self.env_file.unlink(missing_ok=True)

    def save_log(self) -> None:
        """Write `docker compose logs <service>` to log_file (or why it could not be read)."""
        try:
            stdout, stderr = self.compose.get_logs(self.service)
            text = stdout + stderr
        except subprocess.CalledProcessError as exc:
            text = f"docker compose logs {self.service} failed with exit status {exc.returncode}\n"
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.write_text(text, encoding="utf-8")


def start_nomad(
    *, timeout: float = 120.0, service: str = SERVICE, profiles: tuple[str, ...] = ()
) -> NomadAgent:
    """Start a compose Nomad service on a free port (its image built if need be); await a node."""
    problem = docker_problem()
    if problem is not None:
        raise ComposeUnavailable(problem)
    from testcontainers.compose import DockerCompose

    port = free_port()
    env_file = ROOT / "build" / f"compose-{port}.env"
    env_file.parent.mkdir(exist_ok=True)
    env_file.write_text(f"{PORT_VARIABLES[service]}={port}\n")
    compose = DockerCompose(
        ROOT,
        compose_file_name=COMPOSE_FILE,
        services=[service],
        profiles=list(profiles) or None,
        build=service != SERVICE,
        env_file=str(env_file),
        wait=True,
    )
    agent = NomadAgent(
        addr=f"http://127.0.0.1:{port}", compose=compose, env_file=env_file, service=service
    )
    try:
        compose.start()
        with httpx.Client(base_url=agent.addr, timeout=5.0, trust_env=False) as client:
            wait_until_ready(client, timeout=timeout)
    except BaseException:
        agent.stop()
        raise
    return agent


@contextmanager
def nomad_agent(*, timeout: float = 120.0) -> Iterator[NomadAgent]:
    """A dev agent for the duration of a `with` block."""
    agent = start_nomad(timeout=timeout)
    try:
        yield agent
    finally:
        agent.stop()
