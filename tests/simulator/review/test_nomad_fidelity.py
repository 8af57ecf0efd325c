"""Fidelity defects of the Nomad emulator found in review (each test fails on main).

Sources: hashicorp/nomad nomad/structs/variables.go (`Validate`, `validatePath` return plain
errors), nomad/variables_endpoint.go (`svePreApply` returns them from the RPC),
command/agent/http.go (`errCodeFromHandler`: an uncoded error is 500), nomad/structs/alloc.go
(`TerminalStatus` = ServerTerminalStatus || ClientTerminalStatus) and
nomad/state/state_store.go `getJobStatus` (any non-terminal alloc -> running, else dead).
"""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest

from simulator.nomad import NomadEmulator
from simulator.nomad.drivers import InProcessDriver, TaskContext
from tests.simulator.nomad.conftest import parameterized_job, register, text_error

ITEMS = {"Items": {"k": "v"}}


@pytest.fixture
async def client() -> Any:
    emu = NomadEmulator(driver="inprocess")
    async with emu.client(timeout=10) as c:
        yield c
    emu.stop()


async def test_invalid_variable_path_is_a_500_as_nomad_answers(client: httpx.AsyncClient) -> None:
    # structs.validatePath -> fmt.Errorf; Variables.Apply returns it; wrap() makes it a 500.
    text_error(await client.put("/v1/var/a.b", json=ITEMS), 500, 'invalid path "a.b"')


async def test_oversized_variable_is_a_500_as_nomad_answers(client: httpx.AsyncClient) -> None:
    big = {"Items": {"k": "x" * 70000}}
    text_error(
        await client.put("/v1/var/nomad/jobs/x", json=big),
        500,
        "variables are limited to 64KiB in total size",
    )


async def test_a_stopped_child_is_dead_while_its_task_still_shuts_down() -> None:
    release = threading.Event()

    def slow_to_stop(ctx: TaskContext) -> int:
        ctx.stop_requested.wait(10)
        release.wait(5)  # the task is still draining after the kill signal
        return 0

    emu = NomadEmulator(driver=InProcessDriver({"t": slow_to_stop}))
    try:
        async with emu.client(timeout=10) as c:
            await register(c, parameterized_job("sim"))
            child = (await c.post("/v1/job/sim/dispatch", json={"Meta": {"need": "1"}})).json()[
                "DispatchedJobID"
            ]
            for _ in range(200):
                if (await c.get(f"/v1/job/{child}")).json()["Status"] == "running":
                    break
            assert (await c.delete(f"/v1/job/{child}")).status_code == 200
            job = (await c.get(f"/v1/job/{child}")).json()
            allocs = (await c.get(f"/v1/job/{child}/allocations")).json()
            assert allocs[0]["DesiredStatus"] == "stop"
            # Nomad: the alloc is TerminalStatus() once DesiredStatus is stop -> job dead.
            assert (job["Stop"], job["Status"]) == (True, "dead")
    finally:
        release.set()
        emu.stop()
