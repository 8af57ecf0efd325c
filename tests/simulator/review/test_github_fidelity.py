"""Fidelity defects of the GitHub emulator found in review (each test fails on main).

Sources: GitHub REST "Get the authenticated app" (`GET /app`, JWT only;
docs.github.com/rest/apps/apps#get-the-authenticated-app), which `GitHubHttp.check()`
(src/runners_on_demand/ports/github.py) calls for `/readyz` under App auth;
ubicloud/ubicloud#692 for the 409 text of a duplicate JIT runner name.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from simulator.github import GitHubEmulator

APP_ID = 42


def _key() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


PRIVATE, PUBLIC = _key()
OTHER_PRIVATE, _ = _key()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    emu = GitHubEmulator(repos=["acme/app"], tokens=["ghp_x"], app_id=APP_ID, app_public_key=PUBLIC)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=emu.app), base_url=emu.url) as c:
        yield c


def _jwt(private: str) -> str:
    now = int(time.time())
    return jwt.encode({"iat": now - 60, "exp": now + 500, "iss": str(APP_ID)}, private, "RS256")


async def test_get_app_answers_the_app_for_its_jwt(client: httpx.AsyncClient) -> None:
    response = await client.get("/app", headers={"Authorization": f"Bearer {_jwt(PRIVATE)}"})
    assert response.status_code == 200, response.text
    assert response.json()["id"] == APP_ID


async def test_get_app_refuses_a_jwt_signed_with_another_key(client: httpx.AsyncClient) -> None:
    # rod's /readyz treats 401 as "not ready" and any 4xx but 401 as reachable-and-fine.
    response = await client.get("/app", headers={"Authorization": f"Bearer {_jwt(OTHER_PRIVATE)}"})
    assert response.status_code == 401, response.text


async def test_duplicate_jit_name_message_is_githubs(client: httpx.AsyncClient) -> None:
    body = {"name": "rod-1", "runner_group_id": 1, "labels": ["x"]}
    auth = {"Authorization": "Bearer ghp_x"}
    url = "/repos/acme/app/actions/runners/generate-jitconfig"
    assert (await client.post(url, json=body, headers=auth)).status_code == 201
    again = await client.post(url, json=body, headers=auth)
    assert again.status_code == 409
    expected = "Already exists - A runner with the name rod-1 already exists."
    assert again.json()["message"] == expected


async def test_unknown_path_with_bad_credentials_is_401(client: httpx.AsyncClient) -> None:
    response = await client.get("/repos/acme/app/nope", headers={"Authorization": "Bearer wrong"})
    assert response.status_code == 401, response.text
