"""scripts/docker_smoke.py with only the Docker boundary replaced.

A fake `docker` executable first on PATH records its arguments and fails or hangs on request;
everything else is real: the script as a process, `behave -D backend=compose` as a process (its
Docker SDK finds no engine), and the runner job's task check against the Nomad emulator running
the real job spec's task as a real process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from simulator.harness.nomad_client import RUNNER_JOB_SPEC, NomadApi
from simulator.nomad import NomadEmulator
from tests.scripts import load_script

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "docker_smoke.py"
PREFLIGHT = [["info"], ["compose", "version"], ["buildx", "version"]]

FAKE_DOCKER = f"""#!{sys.executable}
import json, os, sys, time
args = sys.argv[1:]
with open(os.environ["FAKE_DOCKER_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
line = " ".join(args)
def matches(name):
    return any(p and line.startswith(p) for p in os.environ.get(name, "").split("|"))
if matches("FAKE_DOCKER_HANG"):
    time.sleep(120)
if matches("FAKE_DOCKER_FAIL"):
    sys.exit(1)
if args[:4] == ["compose", "--profile", "acceptance", "logs"]:
    print("nomad-runners-1  | ==> Nomad agent started!")
"""


smoke = load_script("docker_smoke")


class FakeDocker:
    """A bin/ directory holding the fake `docker`, and what it was called with."""

    def __init__(self, tmp_path: Path) -> None:
        self.bin = tmp_path / "bin"
        self.bin.mkdir()
        docker = self.bin / "docker"
        docker.write_text(FAKE_DOCKER)
        docker.chmod(0o755)
        self.log = tmp_path / "docker-calls.jsonl"
        self.log_dir = tmp_path / "logs"

    def env(self, **extra: str) -> dict[str, str]:
        """The script's whole environment: the fake first and alone on PATH."""
        return {
            "PATH": str(self.bin),
            "FAKE_DOCKER_LOG": str(self.log),
            "DOCKER_SMOKE_LOG_DIR": str(self.log_dir),
            "DOCKER_HOST": "unix:///nonexistent/docker.sock",  # the Docker SDK finds no engine
            **extra,
        }

    def calls(self) -> list[list[str]]:
        """Each call's arguments, in order."""
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def run(self, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        """The script as a process, to its end."""
        command = [sys.executable, str(SCRIPT), *args]
        return subprocess.run(
            command, env=self.env(**extra), capture_output=True, text=True, timeout=120
        )


@pytest.fixture
def docker(tmp_path: Path) -> FakeDocker:
    return FakeDocker(tmp_path)


def docker_args(command: tuple[str, ...]) -> list[str]:
    """A planned command as the fake records it (without the leading `docker`)."""
    assert command[0] == "docker"
    return list(command[1:])


def teardown_calls() -> list[list[str]]:
    """Logs, then down, for each compose project."""
    calls: list[list[str]] = []
    for compose in smoke.PROJECTS.values():
        calls.append([*compose[1:], "logs", "--no-color", "--timestamps"])
        calls.append([*compose[1:], "down", "--volumes", "--remove-orphans"])
    return calls


class TestWithoutDocker:
    def test_no_docker_cli_is_one_line_and_a_skip(self, tmp_path: Path) -> None:
        empty = tmp_path / "empty"
        empty.mkdir()
        result = subprocess.run(
            [sys.executable, str(SCRIPT)], env={"PATH": str(empty)}, capture_output=True, text=True
        )
        assert (result.returncode, result.stderr) == (0, "")
        assert result.stdout == "docker-smoke: skipped: the docker CLI is not installed\n"

    def test_no_engine_is_one_line_and_nothing_else_runs(self, docker: FakeDocker) -> None:
        result = docker.run(FAKE_DOCKER_FAIL="info")
        assert result.returncode == 0
        assert (
            result.stdout
            == "docker-smoke: skipped: no Docker engine answers (`docker info` failed)\n"
        )
        assert docker.calls() == [["info"]]

    def test_required_turns_the_skip_into_a_failure(self, docker: FakeDocker) -> None:
        result = docker.run(FAKE_DOCKER_FAIL="info", DOCKER_SMOKE_REQUIRED="1")
        assert result.returncode == 1
        assert (
            result.stdout
            == "docker-smoke: failed: no Docker engine answers (`docker info` failed)\n"
        )

    @pytest.mark.parametrize("plugin", ["compose", "buildx"])
    def test_a_missing_plugin_is_one_line(self, docker: FakeDocker, plugin: str) -> None:
        result = docker.run(FAKE_DOCKER_FAIL=f"{plugin} version")
        assert result.returncode == 0
        assert (
            result.stdout == f"docker-smoke: skipped: the docker {plugin} plugin is not installed\n"
        )

    def test_down_without_docker_is_the_same_one_line(self, docker: FakeDocker) -> None:
        result = docker.run("--down", FAKE_DOCKER_FAIL="info")
        assert (result.returncode, result.stdout.count("\n")) == (0, 1)
        assert docker.calls() == [["info"]]


class TestWithDocker:
    def test_runs_the_plan_in_order_and_tears_down_after_the_first_failure(
        self, docker: FakeDocker
    ) -> None:
        # Every docker command succeeds, but no Nomad answers the task check (step 11).
        result = docker.run()
        steps = smoke.plan("http://unused")
        commands = [docker_args(step.command) for step in steps[:10]]
        assert steps[10].check is not None and steps[10].command == ()

        assert result.returncode == 1
        assert docker.calls() == PREFLIGHT + commands + teardown_calls()
        assert (
            result.stderr.strip()
            .splitlines()[-1]
            .startswith("docker-smoke: failed: Nomad at http://127.0.0.1:")
        )
        assert [line for line in result.stdout.splitlines() if line.startswith("==> ")] == [
            f"==> [{n}/{len(steps)}] {step.title}" for n, step in enumerate(steps[:11], 1)
        ]
        # The acceptance project's remaining log is kept; the dispatcher's printed nothing.
        kept = sorted(path.name for path in docker.log_dir.iterdir())
        assert kept == ["compose-acceptance.log"]
        assert "Nomad agent started" in (docker.log_dir / "compose-acceptance.log").read_text()

    def test_a_failed_build_stops_the_run_and_still_tears_down(self, docker: FakeDocker) -> None:
        result = docker.run(FAKE_DOCKER_FAIL="buildx build")
        first = docker_args(smoke.plan("http://unused")[0].command)
        assert result.returncode == 1
        assert docker.calls() == [*PREFLIGHT, first, *teardown_calls()]
        assert "step 1 (build the Nomad agent's image) exited with status 1" in result.stderr

    def test_sigterm_mid_step_still_tears_down(self, docker: FakeDocker) -> None:
        process = subprocess.Popen(
            [sys.executable, str(SCRIPT)],
            env=docker.env(FAKE_DOCKER_HANG="buildx build"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            while len(docker.calls()) < len(PREFLIGHT) + 1:  # the build has started
                assert process.poll() is None, process.communicate()
                time.sleep(0.05)
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=60)
        finally:
            process.kill()
        assert process.returncode == 130
        assert stderr.strip() == "docker-smoke: interrupted"
        assert docker.calls()[len(PREFLIGHT) + 1 :] == teardown_calls()

    def test_down_only_saves_logs_and_takes_both_projects_down(self, docker: FakeDocker) -> None:
        result = docker.run("--down")
        assert result.returncode == 0
        assert docker.calls() == PREFLIGHT + teardown_calls()

    def test_the_suite_step_runs_behave_on_the_compose_backend(
        self, docker: FakeDocker, capfd: pytest.CaptureFixture[str]
    ) -> None:
        # The real behave, from the repository root; its compose backend asks the Docker SDK
        # (DOCKER_HOST points nowhere) and stops the run in one line.
        suite = smoke.plan("http://unused")[-1]
        junit = ("--junit-directory", str(docker.log_dir / "junit"))  # not the repository's build/
        suite = smoke.Step(suite.title, (*suite.command, *junit))
        env = {**os.environ, **docker.env(), "PATH": f"{docker.bin}:{os.environ['PATH']}"}
        with pytest.raises(smoke.SmokeFailed, match="the acceptance suite on real Nomad"):
            smoke.run_steps([suite], env)
        out, err = capfd.readouterr()
        assert "not available here: -D backend=compose: no Docker engine answers" in out + err


class TestVarFlags:
    def test_strings_raw_numbers_and_lists_as_hcl(self) -> None:
        flags = smoke.var_flags({"image": "a:b", "cpu": 100, "runner_args": ["-c", 'x "y"']})
        assert flags == [
            "-var",
            "image=a:b",
            "-var",
            "cpu=100",
            "-var",
            'runner_args=["-c", "x \\"y\\""]',
        ]


class TestTaskOutcome:
    @pytest.mark.parametrize(
        ("allocations", "outcome"),
        [
            ([], None),
            ([{"ClientStatus": "pending"}], None),
            ([{"ClientStatus": "running"}], None),
            ([{"ClientStatus": "complete"}], "complete"),
            (
                [{"ClientStatus": "failed", "TaskStates": {"runner": {"Events": [
                    {"DisplayMessage": "Task started by client"},
                    {"DisplayMessage": "Exit Code: 1"},
                ]}}}],
                "allocation failed: Task started by client; Exit Code: 1",
            ),
            ([{"ClientStatus": "lost"}], "allocation lost: no task events"),
        ],
    )  # fmt: skip
    def test_finished_states_only(self, allocations: list[dict[str, Any]], outcome: str) -> None:
        assert smoke.task_outcome(allocations) == outcome


@pytest.fixture
def nomad() -> Iterator[str]:
    with NomadEmulator(driver="process") as emulator:
        yield emulator.url


class TestCheckTask:
    """The real runner job spec with the smoke's variables, its task run as a real process."""

    def test_the_task_finds_the_dispatch_meta_value_in_its_payload(self, nomad: str) -> None:
        NomadApi(nomad).register_spec(RUNNER_JOB_SPEC, smoke.SMOKE_VARIABLES)
        smoke.check_task(nomad, timeout=60)

    def test_a_task_that_fails_is_one_line_with_its_events(self, nomad: str) -> None:
        failing = {**smoke.SMOKE_VARIABLES, "runner_args": ["-c", "exit 3"]}
        NomadApi(nomad).register_spec(RUNNER_JOB_SPEC, failing)
        with pytest.raises(smoke.SmokeFailed, match=r"github-runner/dispatch-.*allocation failed"):
            smoke.check_task(nomad, timeout=60)

    def test_no_nomad_is_one_line(self) -> None:
        url = f"http://127.0.0.1:{smoke.free_port()}"
        with pytest.raises(smoke.SmokeFailed, match=f"Nomad at {url}: ConnectError"):
            smoke.check_task(url, timeout=5)
