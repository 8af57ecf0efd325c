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
from tests.runners_on_demand.listen.conftest import APP_ID, REPO, TOKEN, control
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


def start_ready(
    github: GitHubEmulator, nomad: NomadEmulator, tmp_path: Path
) -> subprocess.Popen[str]:
    """`rod listen` on the repository, its output piped, once its /readyz answers 200."""
    port = free_port("127.0.0.1")
    config = tmp_path / "rod.toml"
    config.write_text(f'[listen]\nurl = "{github.url}/{REPO}"\nport = {port}\n')
    register_runner_job(nomad.url)  # else /readyz answers 503
    process = subprocess.Popen(
        [ROD, "listen", "--config", str(config)],
        env=environment(GITHUB_TOKEN=TOKEN, NOMAD_ADDR=nomad.url),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 30
    status = 0
    while time.monotonic() < deadline and status != 200 and process.poll() is None:
        try:
            status = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code
        except httpx.TransportError:
            time.sleep(0.1)
    if status != 200:
        process.kill()
        raise AssertionError(f"not ready: {process.communicate()[0]}")
    return process


class TestRunning:
    def test_ready_then_sigterm_deletes_the_session_and_exits_0(
        self, github: GitHubEmulator, tmp_path: Path
    ) -> None:
        with NomadEmulator() as nomad:
            process = start_ready(github, nomad, tmp_path)
            try:
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


def problems(output: str) -> list[str]:
    """The lines `fail()` writes: `rod listen: ...` (log lines start with their time)."""
    return [line for line in output.splitlines() if line.startswith("rod listen: ")]


# GitHub's answer to a fine-grained token without the permission (not a rate limit).
FORBIDDEN = '{"message": "Resource not accessible by personal access token", "status": "403"}'


class TestRefusedAtStart:
    """A refusal no retry will change: one line, exit 2, no scale set; never a retry loop."""

    def refused(
        self, github: GitHubEmulator, tmp_path: Path, path: str = REPO, extra: str = "", **env: str
    ) -> list[str]:
        config = tmp_path / "rod.toml"
        config.write_text(f'[listen]\nurl = "{github.url}/{path}"\nport = 0\n{extra}')
        with NomadEmulator() as nomad:
            register_runner_job(nomad.url)
            result = run(["--config", str(config)], NOMAD_ADDR=nomad.url, **env)
        assert result.returncode == 2, result.stderr
        for absent in ("Traceback", "setting up again", TOKEN, "ghp_revoked"):
            assert absent not in result.stderr
        assert control(github, "GET", "scalesets") == []
        return problems(result.stderr)

    def test_a_wrong_token(self, github: GitHubEmulator, tmp_path: Path) -> None:
        assert self.refused(github, tmp_path, GITHUB_TOKEN="ghp_revoked") == [
            "rod listen: GitHub refuses GITHUB_TOKEN: GitHub POST "
            f"/repos/{REPO}/actions/runners/registration-token: 401 Bad credentials"
        ]

    def test_a_forbidden_token(self, github: GitHubEmulator, tmp_path: Path) -> None:
        path = f"/api/v3/repos/{REPO}/actions/runners/registration-token"
        fault = {"method": "POST", "path": path, "count": 10, "status": 403, "body": FORBIDDEN}
        control(github, "POST", "faults", fault | {"content_type": "application/json"})
        assert self.refused(github, tmp_path, GITHUB_TOKEN=TOKEN) == [
            f"rod listen: GITHUB_TOKEN may not administer the runners of {REPO}: GitHub POST "
            f"/repos/{REPO}/actions/runners/registration-token: 403 Resource not accessible by "
            "personal access token"
        ]

    def test_an_unknown_repository_or_organization(
        self, github: GitHubEmulator, tmp_path: Path
    ) -> None:
        for path, rest in (("acme/nope", "/repos/acme/nope"), ("nope", "/orgs/nope")):
            assert self.refused(github, tmp_path, path, GITHUB_TOKEN=TOKEN) == [
                f"rod listen: listen.url: {github.url}/{path} does not exist, or GITHUB_TOKEN "
                f"may not administer its runners: GitHub POST {rest}/actions/runners/"
                "registration-token: 404 Not Found"
            ]

    def test_a_github_app_not_installed_there(
        self, github: GitHubEmulator, tmp_path: Path, app_key: tuple[str, str]
    ) -> None:
        key = tmp_path / "app.pem"
        key.write_text(app_key[0])
        env = {"GITHUB_APP_ID": str(APP_ID), "GITHUB_APP_PRIVATE_KEY_FILE": str(key)}
        assert self.refused(github, tmp_path, "acme/nope", **env) == [
            f"rod listen: listen.url: {github.url}/acme/nope does not exist, or the GitHub App "
            f"{APP_ID} may not administer its runners: GitHub GET /repos/acme/nope/installation: "
            "404 Not Found"
        ]

    def test_an_unknown_runner_group(self, github: GitHubEmulator, tmp_path: Path) -> None:
        group = 'runner_group = "gpu"\n'
        assert self.refused(github, tmp_path, extra=group, GITHUB_TOKEN=TOKEN) == [
            f"rod listen: listen.runner_group: {REPO} has no runner group named 'gpu'"
        ]


class TestTransientAtStart:
    def test_a_throttled_start_is_said_and_tried_again(
        self, github: GitHubEmulator, tmp_path: Path
    ) -> None:
        # Every try of the check before serving is throttled (the client tries 5 times).
        fault = {"mode": "throttled", "operation": "runner_registration", "count": 5}
        control(github, "POST", "scalesets/faults", fault | {"retry_after": 0})
        with NomadEmulator() as nomad:
            process = start_ready(github, nomad, tmp_path)
            process.send_signal(signal.SIGTERM)
            output = process.communicate(timeout=30)[0]
        assert process.returncode == 0, output
        assert "WARNING" in output and "cannot set the scale set up yet (" in output
        assert "429" in output and "; trying again" in output
        assert problems(output) == []


class TestRefusedWhileRunning:
    def test_a_revoked_token_stops_it_with_exit_2(
        self, github: GitHubEmulator, tmp_path: Path
    ) -> None:
        with NomadEmulator() as nomad:
            process = start_ready(github, nomad, tmp_path)
            try:
                control(github, "DELETE", f"tokens/{TOKEN}")
                # An hour later the admin and queue tokens are spent: renewing them needs the token.
                control(github, "POST", "clock", {"advance_seconds": 4000})
                assert process.wait(60) == 2
            finally:
                process.kill()
                output = process.communicate()[0]
        refusal = (
            "ERROR runners_on_demand.listen.loop: rod listen: GitHub refuses GITHUB_TOKEN: GitHub "
            f"POST /repos/{REPO}/actions/runners/registration-token: 401 Bad credentials; stopping"
        )
        assert refusal in output
        assert "Traceback" not in output and TOKEN not in output
