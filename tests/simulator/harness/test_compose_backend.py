"""The compose backend: the runner job's raw_exec variant, the refusal without Docker, and a
scenario's worth of the real thing where Docker exists."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator.compose import docker_problem
from simulator.harness import Stack, StackSettings, World, story
from simulator.harness.compose_backend import CONTAINER_RUNNER, ComposeBackend, as_raw_exec
from simulator.harness.errors import BackendUnavailable
from simulator.harness.github_client import ScriptedJob
from simulator.harness.nomad_client import RUNNER_JOB_SPEC, NomadApi
from simulator.nomad import NomadEmulator


@pytest.fixture(scope="module")
def nomad() -> Iterator[NomadApi]:
    """The Nomad emulator, whose /v1/jobs/parse reads the spec as the real agent's does."""
    with NomadEmulator(driver="inprocess") as emulator:
        yield NomadApi(emulator.url)


class TestAsRawExec:
    def test_only_the_task_driver_and_its_config_change(self, nomad: NomadApi) -> None:
        parsed = nomad.parse_job(RUNNER_JOB_SPEC.read_text(encoding="utf-8"), CONTAINER_RUNNER)
        before = copy.deepcopy(parsed)
        changed = as_raw_exec(parsed)
        assert parsed == before, "the parsed job was modified in place"
        (task,) = changed["TaskGroups"][0]["Tasks"]
        assert task["Driver"] == "raw_exec"
        config = {"command": "/usr/local/bin/python", "args": ["-m", "simulator.runner"]}
        assert task["Config"] == config
        (old_task,) = before["TaskGroups"][0]["Tasks"]
        assert old_task["Driver"] == "docker"
        assert {k: v for k, v in task.items() if k not in ("Driver", "Config")} == {
            k: v for k, v in old_task.items() if k not in ("Driver", "Config")
        }
        assert {k: v for k, v in changed.items() if k != "TaskGroups"} == {
            k: v for k, v in before.items() if k != "TaskGroups"
        }
        assert changed["ParameterizedJob"]["Payload"] == "required"

    def test_nomad_takes_the_variant(self, nomad: NomadApi) -> None:
        parsed = nomad.parse_job(RUNNER_JOB_SPEC.read_text(encoding="utf-8"), CONTAINER_RUNNER)
        nomad.register_job(as_raw_exec(parsed))
        registered = nomad.get_job(parsed["ID"])
        assert registered["TaskGroups"][0]["Tasks"][0]["Driver"] == "raw_exec"


class TestWithoutDocker:
    def test_says_so_in_one_line(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr("simulator.compose.docker_problem", lambda: "no Docker engine")
        with pytest.raises(BackendUnavailable) as raised:
            ComposeBackend(StackSettings(backend="compose")).start()
        assert str(raised.value) == "not available here: -D backend=compose: no Docker engine"


@pytest.mark.docker
class TestRealAgent:
    def test_a_self_hosted_job_runs_on_its_own_runner_and_the_cluster_drains(
        self, tmp_path: Path
    ) -> None:
        problem = docker_problem()
        if problem is not None:
            pytest.skip(f"compose backend needs Docker: {problem}")
        settings = StackSettings(backend="compose", log_dir=tmp_path, timeout=120.0)
        with Stack(settings) as stack:
            world = World(stack=stack, timeout=settings.timeout, job_seconds=1.0)
            labels = ("self-hosted", "linux", "x64")
            (job,) = story.trigger_run(world, [ScriptedJob("build", labels, 1.0)])
            child = story.await_child(world, job)
            story.await_ran_on_child_runner(world, job, child)
            story.await_job_completed(world, job, "success")
            story.await_drained(world)
