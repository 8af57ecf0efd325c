"""simulator.nomad.emulator: NomadEmulator embedded and served."""

from __future__ import annotations

import httpx
import pytest

from simulator.nomad import NomadEmulator
from simulator.nomad.drivers import InProcessDriver


class TestNomadEmulator:
    def test_url_needs_start(self) -> None:
        emu = NomadEmulator()
        with pytest.raises(RuntimeError, match="not started"):
            _ = emu.url
        emu.stop()

    async def test_embedded_client_uses_asgi(self) -> None:
        emu = NomadEmulator(driver=InProcessDriver())
        async with emu.client() as client:
            assert str(client.base_url) == "http://nomad.sim"
            assert (await client.get("/v1/agent/health")).status_code == 200
        emu.stop()

    def test_context_manager_serves_then_stops(self) -> None:
        with NomadEmulator(cpu=500, memory=600) as emu:
            url = emu.url
            (node,) = httpx.get(f"{url}/v1/nodes").json()
            assert node["NodeResources"] == {"Cpu": {"CpuShares": 500}, "Memory": {"MemoryMB": 600}}
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{url}/v1/agent/health", timeout=2)
