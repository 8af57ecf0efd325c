"""`rod sim github` as a real process."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from click.testing import CliRunner

from simulator.github.cli import command
from simulator.serving import free_port

ROD = Path(sys.executable).parent / "rod"


def test_serves_the_api_until_sigterm(tmp_path: Path) -> None:
    port = free_port()
    args = [str(ROD), "sim", "github", "--port", str(port), "--repo", "acme/app", "--token", "T",
            "--org", "widgets", "--scaleset-poll-hold", "0.5", "--secondary-limits"]  # fmt: skip
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                response = httpx.get(f"{url}/user/repos", headers={"Authorization": "token T"})
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, "did not start"
                time.sleep(0.1)
        assert response.status_code == 200
        assert [r["full_name"] for r in response.json()] == ["acme/app"]
        org = httpx.get(f"{url}/orgs/widgets", headers={"Authorization": "token T"})
        assert (org.status_code, org.json()["public_repos"]) == (200, 0)
        scaleset = httpx.get(f"{url}/_sim/scalesets/config").json()
        assert (scaleset["poll_hold"], scaleset["session_timeout"]) == (0.5, 300.0)
        secondary = httpx.get(f"{url}/_sim/secondary-limits").json()
        assert (secondary["enabled"], secondary["points_per_minute"]) == (True, 900)
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert f"GitHub emulator on http://127.0.0.1:{port}" in output


def test_app_id_needs_a_key_file() -> None:
    result = CliRunner().invoke(command, ["--token", "T", "--app-id", "1"])
    assert result.exit_code == 2 and "--app-key-file" in result.output


def test_a_bad_repo_name_is_one_clear_line() -> None:
    result = CliRunner().invoke(command, ["--token", "T", "--repo", "nope"])
    assert result.exit_code == 2 and "OWNER/NAME" in result.output
    assert "Traceback" not in result.output


def test_a_bad_org_login_is_one_clear_line() -> None:
    result = CliRunner().invoke(command, ["--token", "T", "--org", "-nope"])
    assert result.exit_code == 2 and "not a valid organization login" in result.output
    assert "Traceback" not in result.output


def test_a_port_in_use_is_one_clear_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(command, ["--token", "T", "--port", str(port)])
    assert result.exit_code == 2
    assert f"cannot listen on 127.0.0.1:{port} (--host/--port): Address already in use" in (
        result.output
    )
    assert "Traceback" not in result.output
