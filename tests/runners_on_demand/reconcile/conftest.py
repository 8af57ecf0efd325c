"""Fixtures of the reconciler tests over real HTTP: Nomad emulators running the real runner job."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from simulator.nomad import NomadEmulator
from simulator.nomad.drivers import InProcessDriver, TaskContext, completes_after

SPEC = Path(__file__).resolve().parents[3] / "deploy" / "nomad" / "github-runner.nomad.hcl"


def never_connects(ctx: TaskContext) -> int:
    """A runner task that never reaches GitHub; it ends when Nomad stops it."""
    ctx.stop_requested.wait(120)
    return 0


def nomad_with(driver: str | InProcessDriver, *, acl_token: str | None = None) -> NomadEmulator:
    """A started Nomad emulator with the real runner job registered (ACLs on with `acl_token`,
    the management token)."""
    emulator = NomadEmulator(driver=driver, acl_token=acl_token).start()
    register_runner_job(emulator, acl_token)
    return emulator


def register_runner_job(emulator: NomadEmulator, acl_token: str | None = None) -> None:
    """`nomad job run` of the real runner job; its task is the fake runner (with `acl_token`,
    the management token, when ACLs are on)."""
    variables = (
        f"runner_command = {json.dumps(sys.executable)}\n"
        'runner_args = ["-m", "simulator.runner", "--poll-wait", "1"]\ncpu = 100\nmemory = 128\n'
    )
    headers = {"X-Nomad-Token": acl_token} if acl_token else {}
    with httpx.Client(base_url=emulator.url, headers=headers) as client:
        parsed = client.post(
            "/v1/jobs/parse", json={"JobHCL": SPEC.read_text(), "Variables": variables}
        )
        assert parsed.status_code == 200, parsed.text
        assert client.put("/v1/jobs", json={"Job": parsed.json()}).status_code == 200


@pytest.fixture
def crashing() -> Iterator[NomadEmulator]:
    emulator = nomad_with(InProcessDriver(default=completes_after(0.0, exit_code=1)))
    yield emulator
    emulator.stop()
