"""`rod listen` as a real process: configuration errors, health, SIGTERM deletes the session."""

from __future__ import annotations

import select
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx

from simulator.github import GitHubEmulator
from simulator.harness.nomad_client import register_runner_job
from simulator.nomad import NomadEmulator
from simulator.serving import free_port
from tests.runners_on_demand.listen.conftest import REPO, TOKEN, control
from tests.runners_on_demand.test_serve import ROD, environment


def run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ROD, "listen", *args], env=environment(**env), capture_output=True, text=True, timeout=60
    )


class TestBadConfiguration:
    def test_one_line_per_problem_and_exit_2(self, tmp_path: Path) -> None:
        config = tmp_path / "rod.toml"
        config.write_text(
            '[listen]\nurl = "https://github.com/a/b/c"\nmin_runners = 5\nmax_runners = 2\n'
        )
        result = run(["--config", str(config)], GITHUB_TOKEN=TOKEN)
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert lines == [
            "rod listen: listen.url: 'https://github.com/a/b/c' must name an organization or a "
            "repository (ORG or OWNER/REPO)",
            "rod listen: listen.min_runners must not exceed listen.max_runners",
        ]
        assert TOKEN not in result.stderr

    def test_no_url_and_no_credential(self) -> None:
        result = run([])
        assert result.returncode == 2
        assert "GITHUB_WEBHOOK_SECRET" not in result.stderr  # no webhook, no secret
        assert "no GitHub credential" in result.stderr
        assert "Traceback" not in result.stderr

    def test_a_port_in_use_is_one_line_and_no_scale_set_is_made(
        self, github: GitHubEmulator, tmp_path: Path
    ) -> None:
        with socket.socket() as taken, NomadEmulator() as nomad:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            config = tmp_path / "rod.toml"
            config.write_text(f'[listen]\nurl = "{github.url}/{REPO}"\nport = {port}\n')
            result = run(["--config", str(config)], GITHUB_TOKEN=TOKEN, NOMAD_ADDR=nomad.url)
        assert result.returncode == 2
        problems = [line for line in result.stderr.splitlines() if line.startswith("rod listen: ")]
        assert problems == [
            f"rod listen: cannot listen on 127.0.0.1:{port} (--host/--port, [listen] host/port): "
            "Address already in use"
        ]
        assert control(github, "GET", "scalesets") == []


class TestRunning:
    def test_ready_then_sigterm_deletes_the_session_and_exits_0(
        self, github: GitHubEmulator, tmp_path: Path
    ) -> None:
        port = free_port("127.0.0.1")
        config = tmp_path / "rod.toml"
        config.write_text(f'[listen]\nurl = "{github.url}/{REPO}"\nport = {port}\n')
        with NomadEmulator() as nomad:
            register_runner_job(nomad.url)  # else /readyz answers 503
            process = subprocess.Popen(
                [ROD, "listen", "--config", str(config)],
                env=environment(GITHUB_TOKEN=TOKEN, NOMAD_ADDR=nomad.url),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            try:
                deadline = time.monotonic() + 30
                status = 0
                while time.monotonic() < deadline and status != 200:
                    try:
                        status = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code
                    except httpx.TransportError:
                        time.sleep(0.1)
                assert status == 200
                (scale_set,) = control(github, "GET", "scalesets")
                assert scale_set["name"] == "rod" and len(scale_set["sessions"]) == 1
                process.send_signal(signal.SIGTERM)
                assert process.wait(30) == 0
            finally:
                process.kill()
                output = process.communicate()[0]
        assert control(github, "GET", "scalesets")[0]["sessions"] == []
        assert "session" in output and "deleted" in output
        assert TOKEN not in output

    def test_a_runner_job_nomad_does_not_hold_is_a_warning_at_start(
        self, github: GitHubEmulator, tmp_path: Path
    ) -> None:
        # As rod serve: said at once, not left to /readyz (the job may come later: no exit).
        config = tmp_path / "rod.toml"
        config.write_text(f'[listen]\nurl = "{github.url}/{REPO}"\nport = 0\n')
        with NomadEmulator() as nomad:  # `github-runner` never registered
            process = subprocess.Popen(
                [ROD, "listen", "--config", str(config)],
                env=environment(GITHUB_TOKEN=TOKEN, NOMAD_ADDR=nomad.url),
                stderr=subprocess.PIPE,
                text=True,
            )
            try:
                assert process.stderr is not None
                seen: list[str] = []
                # the start-up lines end with "rod listen: <url> scale set rod ..."
                while not (seen and "scale set" in seen[-1]):
                    assert select.select([process.stderr], [], [], 30)[0], seen
                    seen.append(process.stderr.readline())
                missing = "rod listen: runner job github-runner is not registered in namespace"
                assert any("WARNING" in line and missing in line for line in seen), seen
                assert process.poll() is None  # it runs on
            finally:
                process.send_signal(signal.SIGTERM)
                process.wait(30)
