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


def _rsa_key() -> tuple[str, str]:
    """(private PEM, public PEM) of a new RSA key."""
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


@pytest.fixture(scope="session")
def app_key() -> tuple[str, str]:
    """(private PEM, public PEM) of a throwaway App key."""
    return _rsa_key()


@pytest.fixture(scope="session")
def other_app_key() -> str:
    """The private PEM of a key that is not the App's."""
    return _rsa_key()[0]


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


API_VERSION = {"api-version": "6.0-preview"}


@dataclass
class Listener:
    """A scale-set listener's calls, one method per call (the sequence `rod listen` makes)."""

    github: GitHub
    service_url: str = ""
    admin_token: str = ""
    session: dict[str, Any] = field(default_factory=dict)

    @property
    def client(self) -> httpx.AsyncClient:
        """The HTTP client (the emulator's base URL; absolute URLs work too)."""
        return self.github.client

    async def register(
        self, config_path: str = REPO, scope: str = f"/repos/{REPO}"
    ) -> httpx.Response:
        """Registration token, then runner-registration; keeps the service URL and admin token."""
        reg = await self.client.post(f"/api/v3{scope}/actions/runners/registration-token")
        assert reg.status_code == 201, reg.text
        response = await self.client.post(
            "/api/v3/actions/runner-registration",
            headers={"Authorization": f"RemoteAuth {reg.json()['token']}"},
            json={"url": f"{self.github.emulator.url}/{config_path}", "runner_event": "register"},
        )
        if response.status_code == 201:
            self.service_url, self.admin_token = response.json()["url"], response.json()["token"]
        return response

    async def api(self, method: str, path: str, **kw: Any) -> httpx.Response:
        """An `_apis` call with the admin token and api-version."""
        headers = {"Authorization": f"Bearer {self.admin_token}", **kw.pop("headers", {})}
        params = {**API_VERSION, **kw.pop("params", {})}
        return await self.client.request(
            method, self.service_url + path, headers=headers, params=params, **kw
        )

    async def create_scale_set(self, name: str = "rod", **fields: Any) -> dict[str, Any]:
        """POST runnerscalesets (200)."""
        response = await self.api(
            "POST",
            "_apis/runtime/runnerscalesets",
            json={"name": name, "runnerGroupId": 1, **fields},
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def open_session(self, scale_set_id: int, owner: str = "listener-1") -> httpx.Response:
        """POST sessions; keeps the session on 200."""
        response = await self.api(
            "POST",
            f"_apis/runtime/runnerscalesets/{scale_set_id}/sessions",
            json={"ownerName": owner},
        )
        if response.status_code == 200:
            self.session = response.json()
        return response

    def queue_headers(self, capacity: int | None = 10) -> dict[str, str]:
        """The queue token, plus X-ScaleSetMaxCapacity."""
        headers = {"Authorization": f"Bearer {self.session['messageQueueAccessToken']}"}
        if capacity is not None:
            headers["X-ScaleSetMaxCapacity"] = str(capacity)
        return headers

    async def poll(self, last: int = 0, capacity: int | None = 10) -> httpx.Response:
        """GET the next message (long poll)."""
        params = {"lastMessageId": str(last)} if last else {}
        return await self.client.get(
            self.session["messageQueueUrl"],
            params=params,
            headers={
                "Accept": "application/json; api-version=6.0-preview",
                **self.queue_headers(capacity),
            },
            timeout=30,
        )

    async def message(
        self, last: int = 0, capacity: int | None = 10
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """A 200 message and its decoded body entries."""
        response = await self.poll(last, capacity)
        assert response.status_code == 200, (response.status_code, response.text)
        message: dict[str, Any] = response.json()
        return message, json.loads(message["body"])

    async def ack(self, message_id: int) -> httpx.Response:
        """DELETE the message (acknowledge)."""
        return await self.client.delete(
            f"{self.session['messageQueueUrl']}/{message_id}", headers=self.queue_headers(None)
        )

    async def acquire(self, scale_set_id: int, ids: list[int]) -> httpx.Response:
        """POST acquirejobs with the queue token."""
        return await self.client.post(
            f"{self.service_url}_apis/runtime/runnerscalesets/{scale_set_id}/acquirejobs",
            params=API_VERSION,
            headers=self.queue_headers(None),
            json=ids,
        )

    async def jit(self, scale_set_id: int, name: str) -> httpx.Response:
        """POST generatejitconfig."""
        return await self.api(
            "POST",
            f"_apis/runtime/runnerscalesets/{scale_set_id}/generatejitconfig",
            json={"name": name, "workFolder": "_work"},
        )


@pytest.fixture
async def listener(github: GitHub) -> Listener:
    """A listener past the auth chain, against an emulator whose polls hold 0.2 s."""
    response = await github.client.post("/_sim/scalesets/config", json={"poll_hold": 0.2})
    assert response.status_code == 200, response.text
    driver = Listener(github)
    assert (await driver.register()).status_code == 201
    return driver
