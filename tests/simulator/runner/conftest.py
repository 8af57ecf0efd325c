"""A stand-in for the GitHub emulator's simulator-only runner API (docs/architecture.md), and
helpers to run the fake runner as a real process against it."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from simulator.runner.jitconfig import encode_jit_config
from simulator.serving import ServerThread

ROOT = Path(__file__).resolve().parents[3]


@dataclass
class StandInRunner:
    """A registered runner: `used` once it completed its one job (an ephemeral runner is gone)."""

    runner_id: int
    name: str
    labels: list[str]
    used: bool = False


@dataclass
class ActionsStandIn:
    """Just the `/_actions/` contract: runners by secret, a job queue, and what happened."""

    base_url: str = ""
    runners: dict[str, StandInRunner] = field(default_factory=dict)
    registration_tokens: set[str] = field(default_factory=set)
    queue: list[dict[str, Any]] = field(default_factory=list)
    sessions: dict[str, int] = field(default_factory=dict)
    closed_sessions: list[str] = field(default_factory=list)
    completed: dict[int, str] = field(default_factory=dict)
    auth_headers: list[str] = field(default_factory=list)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def add_runner(self, name: str = "rod-1-1", labels: tuple[str, ...] = ("self-hosted",)) -> str:
        """Create a JIT runner and return its encoded JIT config."""
        secret = secrets.token_hex(16)
        runner_id = next(self._ids)
        self.runners[secret] = StandInRunner(runner_id, name, list(labels))
        return encode_jit_config(
            agent_id=runner_id,
            agent_name=name,
            server_url=f"{self.base_url}/_actions",
            secret=secret,
        )

    def add_job(self, *, duration: float = 0.0, conclusion: str = "success") -> int:
        """Queue a job with a scripted duration and conclusion; returns its id."""
        job_id = 1000 + next(self._ids)
        self.queue.append(
            {
                "job_id": job_id,
                "run_id": 77,
                "name": "build",
                "labels": ["self-hosted"],
                "duration_seconds": duration,
                "conclusion": conclusion,
            }
        )
        return job_id

    def _runner(self, request: Request) -> StandInRunner | None:
        header = request.headers.get("authorization", "")
        self.auth_headers.append(header)
        runner = self.runners.get(header.removeprefix("Bearer "))
        return runner if runner is not None and not runner.used else None

    def app(self) -> Starlette:
        """The ASGI app serving the contract."""

        def denied() -> Response:
            return JSONResponse({"message": "Bad credentials"}, status_code=401)

        async def register(request: Request) -> Response:
            body = await request.json()
            if body.get("token") not in self.registration_tokens:
                return denied()
            jit = self.add_runner(body["name"], tuple(body["labels"]))
            runner_id = max(r.runner_id for r in self.runners.values())
            return JSONResponse({"runner_id": runner_id, "jit_config": jit}, status_code=201)

        async def open_session(request: Request) -> Response:
            runner = self._runner(request)
            if runner is None:
                return denied()
            session_id = secrets.token_hex(4)
            self.sessions[session_id] = runner.runner_id
            return JSONResponse(
                {"session_id": session_id, "runner_id": runner.runner_id}, status_code=201
            )

        async def poll(request: Request) -> Response:
            if self._runner(request) is None:
                return denied()
            wait = float(request.query_params.get("wait", "0"))
            loop = asyncio.get_running_loop()
            deadline = loop.time() + wait
            while not self.queue and loop.time() < deadline:
                if await request.is_disconnected():  # the runner gave up (e.g. SIGTERM)
                    return Response(status_code=204)
                await asyncio.sleep(0.02)
            if not self.queue:
                return Response(status_code=204)
            return JSONResponse(self.queue.pop(0))

        async def complete(request: Request) -> Response:
            runner = self._runner(request)
            if runner is None:
                return denied()
            self.completed[int(request.path_params["job_id"])] = (await request.json())[
                "conclusion"
            ]
            runner.used = True
            return JSONResponse({})

        async def close(request: Request) -> Response:
            if request.headers.get("authorization", "").removeprefix("Bearer ") not in (
                self.runners
            ):
                return denied()
            self.sessions.pop(request.path_params["session_id"])
            self.closed_sessions.append(request.path_params["session_id"])
            return Response(status_code=204)

        return Starlette(
            routes=[
                Route("/_actions/register", register, methods=["POST"]),
                Route("/_actions/sessions", open_session, methods=["POST"]),
                Route("/_actions/sessions/{session_id}/job", poll, methods=["GET"]),
                Route("/_actions/jobs/{job_id:int}/complete", complete, methods=["POST"]),
                Route("/_actions/sessions/{session_id}", close, methods=["DELETE"]),
            ]
        )


@pytest.fixture
def actions() -> Iterator[ActionsStandIn]:
    """The stand-in runner API, served on a free loopback port."""
    standin = ActionsStandIn()
    with ServerThread(standin.app()) as server:
        standin.base_url = server.url
        yield standin


@dataclass
class Launcher:
    """Starts the fake runner as a real process, the way the Nomad emulator's driver does."""

    task_dir: Path
    secrets_dir: Path

    def env(self, **extra: str) -> dict[str, str]:
        """A Nomad task's environment, without any inherited runner input."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("NOMAD_", "ACTIONS_"))}
        env.update(
            NOMAD_TASK_DIR=str(self.task_dir), NOMAD_SECRETS_DIR=str(self.secrets_dir), **extra
        )
        return env

    def write_payload(self, **fields: Any) -> None:
        """Write local/payload.json as Nomad's dispatch_payload block does (compact JSON)."""
        document = {"repo": "octo/hello", "fork": False, "job": "build", "run_id": 77}
        document.update(fields)
        (self.task_dir / "payload.json").write_text(json.dumps(document, separators=(",", ":")))

    def write_credential(self, **items: str) -> None:
        """Write secrets/credential as the runner job's template renders the Nomad Variable."""
        lines = "".join(f"{name}={value}\n" for name, value in items.items())
        (self.secrets_dir / "credential").write_text(lines)

    def command(self, *args: str) -> list[str]:
        """The fake runner's command line."""
        return [sys.executable, "-m", "simulator.runner", *args]

    def run(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run to completion (the timeout only guards against a hung test)."""
        return subprocess.run(
            self.command(*args),
            env=env or self.env(),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def start(self, *args: str) -> subprocess.Popen[str]:
        """Start in the background with stdout and stderr piped."""
        return subprocess.Popen(
            self.command(*args),
            env=self.env(),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


@pytest.fixture
def launcher(tmp_path: Path) -> Launcher:
    """A launcher whose task directory is a fresh temporary directory."""
    task_dir, secrets_dir = tmp_path / "local", tmp_path / "secrets"
    task_dir.mkdir()
    secrets_dir.mkdir()
    return Launcher(task_dir, secrets_dir)
