"""The GitHub emulator over a real socket, and a `ScaleSetClient` pointed at one of its scopes."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from runners_on_demand.listen.client import ScaleSetClient
from runners_on_demand.listen.scope import parse_config_url
from runners_on_demand.ports.github_auth import GitHubAuth, PatAuth
from simulator.github import GitHubEmulator
from simulator.github.scaleset_host import ScaleSetSettings

TOKEN = "ghp_listen_client_test"
REPO = "acme/app"
APP_ID = 4242


@pytest.fixture(scope="session")
def app_key() -> tuple[str, str]:
    """(private PEM, public PEM) of a throwaway App key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public.decode()


@pytest.fixture
def github(app_key: tuple[str, str]) -> Iterator[GitHubEmulator]:
    """The emulator on a socket; held polls answer 202 after 0.3 s."""
    emulator = GitHubEmulator(
        repos=[REPO],
        tokens=[TOKEN],
        app_id=APP_ID,
        app_public_key=app_key[1],
        scaleset=ScaleSetSettings(poll_hold=0.3),
    )
    with emulator:
        yield emulator


@dataclass
class Sleeps:
    """An injected sleep that records how long it was asked to wait, and returns at once."""

    waits: list[float] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


def make_client(
    http: httpx.AsyncClient,
    github: GitHubEmulator,
    *,
    path: str = REPO,
    auth: GitHubAuth | None = None,
    sleeps: Sleeps | None = None,
    **options: Any,
) -> ScaleSetClient:
    """A client on `{emulator}/{path}`."""
    scope = parse_config_url(f"{github.url}/{path}")
    extra: dict[str, Any] = {"sleep": sleeps} if sleeps is not None else {}
    return ScaleSetClient(http, scope, auth or PatAuth(TOKEN), **options, **extra)


def control(github: GitHubEmulator, method: str, path: str, body: Any = None) -> Any:
    """A call on the emulator's control plane (`/_sim/...`)."""
    response = httpx.request(method, f"{github.url}/_sim/{path}", json=body, timeout=10)
    assert response.is_success, response.text
    return response.json() if response.content else None


def queue_job(github: GitHubEmulator, labels: list[str], name: str = "build") -> int:
    """Start a run with one job on `labels`; its REST job id."""
    run = control(
        github,
        "POST",
        f"repos/{REPO}/runs",
        {"name": "CI", "event": "push", "jobs": [{"name": name, "labels": labels}]},
    )
    job_id: int = run["jobs"][0]["id"]
    return job_id


def calls(github: GitHubEmulator, method: str, path: str) -> int:
    """How many `method` requests to `path` (a glob) the emulator answered."""
    found = control(github, "GET", f"requests?method={method}&path={path}")
    return len(found)


def runner_secret(encoded: str) -> str:
    """The runner secret inside an encoded JIT config."""
    outer = json.loads(base64.b64decode(encoded))
    token: str = json.loads(base64.b64decode(outer[".credentials"]))["Data"]["token"]
    return token
