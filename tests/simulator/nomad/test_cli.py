"""simulator.nomad.cli: `rod sim nomad` serves the emulator on the given port."""

from __future__ import annotations

import socket
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

    def test_port_0_prints_the_port_it_serves_on(self) -> None:
        proc = subprocess.Popen(
            [ROD, "sim", "nomad", "--port", "0", "--driver", "inprocess"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert proc.stderr is not None
            line = proc.stderr.readline()
            url = line.split(" on ", 1)[1].split()[0]
            assert not url.endswith(":0"), line
            assert httpx.get(f"{url}/v1/agent/health").status_code == 200
        finally:
            proc.terminate()
            assert proc.wait(10) == 0

    def test_a_port_in_use_is_a_usage_error(self) -> None:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            result = CliRunner().invoke(command, ["--port", str(port)])
        assert result.exit_code == 2
        assert f"cannot listen on 127.0.0.1:{port} (--host/--port): Address already in use" in (
            result.output
        )

    def test_node_capacity_must_be_positive(self) -> None:
        result = subprocess.run(  # a process: were it accepted, it would serve until the timeout
            [ROD, "sim", "nomad", "--port", "0", "--memory", "0"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 2
        assert "'--memory': 0 is not in the range x>=1" in result.stderr
