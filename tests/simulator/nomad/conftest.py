"""Fixtures: the Nomad emulator in-process (ASGITransport) and served (uvicorn thread)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from simulator.nomad import NomadEmulator

SPEC = Path(__file__).parents[3] / "deploy" / "nomad" / "github-runner.nomad.hcl"
GOOD_META = {"need": "1"}
RUNNER_META = {
    "REPO_FULL_NAME": "octo/hello",
    "REPO_SHORT_NAME": "hello",
    "WORKFLOW_RUN": "100",
    "GITHUB_JOB_ID": "200",
    "RUNNER_NAME": "rod-200-1",
}


def b64(data: bytes | str) -> str:
    """Standard base64 text, as the dispatch API takes a payload."""
    raw = data.encode() if isinstance(data, str) else data
    return base64.b64encode(raw).decode()


def hcl_list(items: list[str]) -> str:
    """An HCL list literal (JSON string syntax is valid HCL)."""
    return json.dumps(items)


def variables(command: str, args: list[str]) -> str:
    """Var-file text overriding the spec's runner_command and runner_args."""
    return f"runner_command = {json.dumps(command)}\nrunner_args = {hcl_list(args)}\n"


def batch_job(job_id: str = "web", **extra: Any) -> dict[str, Any]:
    """A minimal batch job in Nomad's JSON shape."""
    task = {"Name": "t", "Driver": "raw_exec", "Config": {"command": "/bin/true"}}
    job = {"ID": job_id, "Type": "batch", "TaskGroups": [{"Name": "g", "Tasks": [task]}]}
    job.update(extra)
    return job


def parameterized_job(
    job_id: str = "sim", payload: str = "optional", **extra: Any
) -> dict[str, Any]:
    """A parameterized batch job with one required and one optional meta key."""
    pj = {"Payload": payload, "MetaRequired": ["need"], "MetaOptional": ["maybe"]}
    return batch_job(job_id, ParameterizedJob=pj, Meta={"team": "ci"}, **extra)


def both_ways(request: pytest.FixtureRequest, **options: Any) -> Iterator[NomadEmulator]:
    """An emulator reached in-process (`asgi`) or over a real loopback socket (`server`)."""
    emu = NomadEmulator(driver="inprocess", **options)
    if request.param == "server":
        emu.start()
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture(params=["asgi", "server"])
def emulator(request: pytest.FixtureRequest) -> Iterator[NomadEmulator]:
    """The same emulator reached in-process and over a real loopback socket."""
    yield from both_ways(request)


@pytest.fixture
async def client(emulator: NomadEmulator) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client on the emulator."""
    async with emulator.client(timeout=10) as c:
        yield c


async def register(client: httpx.AsyncClient, job: dict[str, Any]) -> dict[str, Any]:
    """Register a job and return the reply, failing loudly on an error."""
    response = await client.post("/v1/jobs", json={"Job": job})
    assert response.status_code == 200, response.text
    reply: dict[str, Any] = response.json()
    return reply


def text_error(response: httpx.Response, status: int, body: str) -> None:
    """Nomad's error shape: the status and a text/plain body."""
    assert (response.status_code, response.text) == (status, body)
    assert response.headers["content-type"].startswith("text/plain")


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Poll until `predicate()` holds (tasks end on other threads); fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)
