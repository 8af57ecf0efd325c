"""simulator.nomad.cli: `rod sim nomad` serves the emulator on the given port."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
from click.testing import CliRunner

from simulator.nomad.cli import command
from simulator.serving import free_port

ROD = str(Path(sys.executable).with_name("rod"))


class TestCommand:
    def test_help_lists_options(self) -> None:
        result = CliRunner().invoke(command, ["--help"])
        assert result.exit_code == 0
        for option in ("--host", "--port", "--acl-enabled", "--acl-token", "--driver", "--cpu"):
            assert option in result.output

    def test_bad_driver_is_a_usage_error(self) -> None:
        result = CliRunner().invoke(command, ["--driver", "docker"])
        assert result.exit_code == 2 and "docker" in result.output

    def test_serves_with_acl_and_capacity(self) -> None:
        port = free_port()
        proc = subprocess.Popen(
            [
                ROD,
                "sim",
                "nomad",
                "--port",
                str(port),
                "--acl-token",
                "t",
                "--driver",
                "inprocess",
                "--cpu",
                "1234",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 20
            while True:
                try:
                    if httpx.get(f"{url}/v1/agent/health").status_code == 200:
                        break
                except httpx.TransportError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise
                time.sleep(0.05)
            assert httpx.get(f"{url}/v1/nodes").status_code == 403
            (node,) = httpx.get(f"{url}/v1/nodes", headers={"X-Nomad-Token": "t"}).json()
            assert node["NodeResources"]["Cpu"]["CpuShares"] == 1234
        finally:
            proc.terminate()
            proc.wait(10)
