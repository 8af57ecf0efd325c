"""End to end: a listener's calls, then the fake runner process with a scale-set JIT config."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from simulator.github import GitHubEmulator
from simulator.github.scaleset_host import ScaleSetSettings
from tests.simulator.github.conftest import AUTH, REPO, TOKEN, GitHub, Listener
from tests.simulator.github.test_scaleset_jobs import IDLE, handled
from tests.simulator.github.test_scaleset_models import queue_jobs


@pytest.fixture
async def listener() -> AsyncIterator[Listener]:
    """A listener against a real emulator server (the runner process connects to it)."""
    emulator = GitHubEmulator(
        repos=[REPO], tokens=[TOKEN], scaleset=ScaleSetSettings(poll_hold=0.2)
    ).start()
    try:
        async with httpx.AsyncClient(base_url=emulator.url, headers=AUTH) as client:
            driver = Listener(GitHub(emulator, client, "server"))
            assert (await driver.register()).status_code == 201
            yield driver
    finally:
        emulator.stop()


async def run_fake_runner(jit_config: str) -> tuple[int, str]:
    """`python -m simulator.runner` with the JIT config in ACTIONS_RUNNER_INPUT_JITCONFIG."""
    env = {**os.environ, "ACTIONS_RUNNER_INPUT_JITCONFIG": jit_config}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "simulator.runner", "--poll-wait", "1", "--give-up", "30"),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, output.decode()


async def test_a_scale_set_runner_takes_its_job(listener: Listener) -> None:
    scale_set = await listener.create_scale_set("rod")
    await listener.open_session(scale_set["id"], owner="rod-listener")
    run = await listener.client.post(
        f"/_sim/repos/{REPO}/runs",
        json={"jobs": [{"name": "build", "labels": ["rod"], "duration_seconds": 0.2}]},
    )
    job_id = run.json()["jobs"][0]["id"]
    await queue_jobs(listener, 1, labels=("other",))  # not for this scale set
    last, _, _ = await handled(listener, 0)
    last, entries, stats = await handled(listener, last)
    assert [e["messageType"] for e in entries] == ["JobAssigned"]
    assert stats["totalAssignedJobs"] == 1  # desired runners: min(0 + 1, max)
    jit = await listener.jit(scale_set["id"], "rod-1-1")

    code, output = await run_fake_runner(jit.json()["encodedJITConfig"])

    assert code == 0, output
    assert f"running job {job_id}" in output
    assert jit.json()["encodedJITConfig"] not in output
    seen: list[dict[str, Any]] = []
    while len(seen) < 2:
        last, entries, stats = await handled(listener, last)
        seen += entries
    assert [(e["messageType"], e["runnerName"]) for e in seen] == [
        ("JobStarted", "rod-1-1"),
        ("JobCompleted", "rod-1-1"),
    ]
    assert seen[1]["result"] == "succeeded"
    assert stats == IDLE
    rest = (await listener.client.get(f"/repos/{REPO}/actions/jobs/{job_id}")).json()
    assert (rest["status"], rest["conclusion"], rest["runner_name"]) == (
        "completed",
        "success",
        "rod-1-1",
    )
    runners = (await listener.client.get(f"/repos/{REPO}/actions/runners")).json()
    assert runners["total_count"] == 0  # ephemeral: gone after its job
