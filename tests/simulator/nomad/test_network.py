"""simulator.nomad.network: group ports, their task environment, Nomad service registrations."""

from __future__ import annotations

import random
import threading
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from simulator.nomad import NomadEmulator
from simulator.nomad.drivers import InProcessDriver, TaskContext
from simulator.nomad.network import (
    DYNAMIC_PORTS,
    AllocatedPort,
    PortCollision,
    allocate_ports,
    port_env,
)

from .conftest import register, text_error, wait_until

NETWORK = {
    "ReservedPorts": [{"Label": "admin", "Value": 9000}],
    "DynamicPorts": [{"Label": "http", "Value": 0, "To": 8080}, {"Label": "raw", "Value": 0}],
}


class TestAllocatePorts:
    def test_static_then_dynamic_from_the_clients_range(self) -> None:
        ports = allocate_ports([NETWORK], set(), "10.0.0.5", bindable=lambda p: True)
        assert [(p.label, p.to, p.host_ip) for p in ports] == [
            ("admin", 0, "10.0.0.5"),
            ("http", 8080, "10.0.0.5"),
            ("raw", 0, "10.0.0.5"),
        ]
        assert ports[0].value == 9000
        assert all(p.value in DYNAMIC_PORTS for p in ports[1:])
        assert len({p.value for p in ports}) == 3

    def test_a_reserved_port_in_use_collides(self) -> None:
        with pytest.raises(PortCollision, match="reserved port collision admin=9000"):
            allocate_ports([NETWORK], {9000}, "127.0.0.1", bindable=lambda p: True)

    def test_dynamic_ports_skip_used_and_unbindable_ones(self) -> None:
        rng = random.Random(7)
        first = random.Random(7).choice(DYNAMIC_PORTS)
        network = {"DynamicPorts": [{"Label": "http", "Value": 0}]}
        (port,) = allocate_ports([network], {first}, "127.0.0.1", bindable=lambda p: True, rng=rng)
        assert port.value != first
        with pytest.raises(PortCollision, match="dynamic port selection failed"):
            allocate_ports([network], set(), "127.0.0.1", bindable=lambda p: False)


def test_port_env_follows_taskenv_add_ports() -> None:
    env = port_env(
        [AllocatedPort("http", 23456, 8080, "10.0.0.5"), AllocatedPort("raw", 25000, 0, "10.0.0.5")]
    )
    assert env["NOMAD_PORT_http"] == env["NOMAD_ALLOC_PORT_http"] == "8080"  # the `to` port
    assert env["NOMAD_HOST_PORT_http"] == "23456"
    assert env["NOMAD_ADDR_http"] == env["NOMAD_HOST_ADDR_http"] == "10.0.0.5:23456"
    assert env["NOMAD_IP_http"] == env["NOMAD_HOST_IP_http"] == "10.0.0.5"
    assert env["NOMAD_PORT_raw"] == env["NOMAD_HOST_PORT_raw"] == "25000"


def web_job(count: int, port: dict[str, Any]) -> dict[str, Any]:
    """A service job whose group asks for one port and registers a `nomad` service on it."""
    task = {
        "Name": "web",
        "Driver": "docker",
        "Config": {"image": "x", "command": "serve", "args": ["--port", "${NOMAD_PORT_http}"]},
        "Env": {"LISTEN": "${NOMAD_ADDR_http}"},
    }
    group = {
        "Name": "g",
        "Count": count,
        "Networks": [{"ReservedPorts" if port.get("Value") else "DynamicPorts": [port]}],
        "Services": [
            {"Name": "web", "PortLabel": "http", "Provider": "nomad", "Tags": ["a"]},
            {"Name": "web", "PortLabel": "http", "Provider": "consul"},
        ],
        "Tasks": [task],
    }
    return {"ID": "web", "Type": "service", "TaskGroups": [group]}


@pytest.fixture
async def node() -> AsyncIterator[tuple[httpx.AsyncClient, list[dict[str, Any]]]]:
    """An emulator whose `web` tasks record their environment and argv, then run until stopped."""
    seen: list[dict[str, Any]] = []
    lock = threading.Lock()

    def web(ctx: TaskContext) -> int:
        with lock:
            seen.append(dict(ctx.env))
        ctx.stop_requested.wait(30)
        return 0

    emulator = NomadEmulator(driver=InProcessDriver({"web": web}))
    async with emulator.client(timeout=10) as client:
        yield client, seen
    emulator.stop()


class TestOnTheNode:
    async def test_dynamic_ports_env_and_services(
        self, node: tuple[httpx.AsyncClient, list[dict[str, Any]]]
    ) -> None:
        client, seen = node
        await register(client, web_job(2, {"Label": "http", "Value": 0}))
        wait_until(lambda: len(seen) == 2, "both instances to start")
        ports = sorted(int(env["NOMAD_PORT_http"]) for env in seen)
        assert ports[0] != ports[1] and all(p in DYNAMIC_PORTS for p in ports)
        assert {env["LISTEN"] for env in seen} == {f"127.0.0.1:{p}" for p in ports}
        services = (await client.get("/v1/service/web")).json()
        assert sorted(s["Port"] for s in services) == ports  # the consul one is not Nomad's
        allocs = {a["ID"] for a in (await client.get("/v1/job/web/allocations")).json()}
        assert {s["AllocID"] for s in services} == allocs
        first = services[0]
        assert first["ID"] == f"_nomad-task-{first['AllocID']}-group-g-web-http"
        assert (first["ServiceName"], first["Address"], first["JobID"], first["Tags"]) == (
            "web", "127.0.0.1", "web", ["a"],
        )  # fmt: skip
        assert (await client.get("/v1/service/other")).json() == []
        assert (await client.delete("/v1/job/web")).status_code == 200
        assert (await client.get("/v1/service/web")).json() == []  # deregistered on stop

    async def test_a_static_port_places_one_instance_at_a_time(
        self, node: tuple[httpx.AsyncClient, list[dict[str, Any]]]
    ) -> None:
        client, seen = node
        await register(client, web_job(2, {"Label": "http", "Value": 28123}))
        wait_until(lambda: len(seen) == 1, "the first instance to start")
        summary = (await client.get("/v1/job/web/summary")).json()["Summary"]["g"]
        assert (summary["Running"], summary["Queued"]) == (1, 1)
        assert seen[0]["NOMAD_PORT_http"] == "28123"

    async def test_service_reads_need_read_job(self) -> None:
        emulator = NomadEmulator(acl_token="root")
        async with emulator.client(timeout=10) as client:
            text_error(await client.get("/v1/service/web"), 403, "Permission denied")
            ok = await client.get("/v1/service/web", headers={"X-Nomad-Token": "root"})
            assert ok.json() == []
        emulator.stop()
