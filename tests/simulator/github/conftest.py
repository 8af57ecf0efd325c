"""Fixtures: the GitHub emulator over ASGITransport or a real server, and a webhook receiver."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from simulator.github import GitHubEmulator
from simulator.serving import ServerThread

TOKEN = "ghp_" + "a" * 36
REPO = "acme/app"
APP_ID = 4242
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@dataclass
class Received:
    """One webhook delivery the receiver got."""

    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A tiny webhook receiver on a loopback port; answers `status` (or the next of `statuses`)."""

    received: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    status: int = 200
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        if self.delay:
            await asyncio.sleep(self.delay)
        with self.lock:
            self.received.append(Received(dict(request.headers), body))
            status = self.statuses.pop(0) if self.statuses else self.status
        return Response("ok", status_code=status)

    def events(self, name: str | None = None) -> list[Received]:
        """Deliveries received, optionally only one X-GitHub-Event."""
        with self.lock:
            return [r for r in self.received if name in (None, r.headers["x-github-event"])]

    def payloads(self, name: str = "workflow_job") -> list[dict[str, Any]]:
        """JSON payloads of one event, in arrival order."""
        return [json.loads(r.body) for r in self.events(name)]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A running webhook receiver at `receiver.url`."""
    recv = Receiver()
    app = Starlette(routes=[Route("/hook", recv.handle, methods=["POST"])])
    with ServerThread(app) as server:
        recv.url = f"{server.url}/hook"
        yield recv


@pytest.fixture(scope="session")
def app_key() -> tuple[str, str]:
    """(private PEM, public PEM) of a throwaway App key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


@dataclass
class GitHub:
    """An emulator and an async client pointed at it (in-process or over a socket)."""

    emulator: GitHubEmulator
    client: httpx.AsyncClient
    mode: str

    @property
    def backend(self) -> Any:
        """The emulator's backend."""
        return self.emulator.backend

    async def run(self, *jobs: dict[str, Any], event: str = "push") -> dict[str, Any]:
        """Start a run in REPO through the control plane."""
        response = await self.client.post(
            f"/_sim/repos/{REPO}/runs", json={"name": "CI", "event": event, "jobs": list(jobs)}
        )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    async def jit(
        self, name: str, labels: list[str], *, org: str | None = None, group: int = 1
    ) -> tuple[int, str]:
        """Create a JIT runner in REPO (or in `org`); returns (runner id, runner secret)."""
        scope = f"/orgs/{org}" if org else f"/repos/{REPO}"
        response = await self.client.post(
            f"{scope}/actions/runners/generate-jitconfig",
            json={"name": name, "runner_group_id": group, "labels": labels},
        )
        assert response.status_code == 201, response.text
        return response.json()["runner"]["id"], jit_secret(response.json()["encoded_jit_config"])

    async def take(self, secret: str) -> int | None:
        """Connect a runner and poll once without waiting; the id of the job it got, if any."""
        bearer = {"Authorization": f"Bearer {secret}"}
        session = await self.client.post("/_actions/sessions", headers=bearer)
        assert session.status_code == 201, session.text
        polled = await self.client.get(
            f"/_actions/sessions/{session.json()['session_id']}/job", headers=bearer
        )
        return polled.json()["job_id"] if polled.status_code == 200 else None


def jit_secret(encoded: str) -> str:
    """The runner secret inside an `encoded_jit_config`."""
    outer = json.loads(base64.b64decode(encoded))
    token: str = json.loads(base64.b64decode(outer[".credentials"]))["Data"]["token"]
    return token


@pytest.fixture(params=["asgi", "server"])
async def github(request: pytest.FixtureRequest, app_key: tuple[str, str]) -> AsyncIterator[GitHub]:
    """The emulator with REPO and TOKEN, in both modes (moto's double run)."""
    emulator = GitHubEmulator(
        repos=[REPO, "octo-user/tool"],
        tokens=[TOKEN],
        user_login="octo-user",
        app_id=APP_ID,
        app_public_key=app_key[1],
    )
    if request.param == "server":
        emulator.start()
        transport: httpx.AsyncBaseTransport = httpx.AsyncHTTPTransport()
    else:
        transport = httpx.ASGITransport(app=emulator.app)
    async with httpx.AsyncClient(transport=transport, base_url=emulator.url, headers=AUTH) as c:
        yield GitHub(emulator, c, request.param)
    emulator.stop()
