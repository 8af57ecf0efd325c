"""The real runner job spec registers on the Nomad emulator with the harness's variables."""

from __future__ import annotations

import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator.harness import nomad_client
from simulator.harness.nomad_client import RUNNER_JOB_SPEC, NomadApi, hcl_variables, runner_job_spec
from simulator.harness.stack import runner_variables
from simulator.nomad import NomadEmulator


@pytest.fixture(scope="module")
def nomad() -> Iterator[NomadApi]:
    emulator = NomadEmulator(driver="inprocess").start()
    try:
        yield NomadApi(emulator.url)
    finally:
        emulator.stop()


class TestRunnerJobSpec:
    def test_the_source_tree_copy_when_there_is_one(self, tmp_path: Path) -> None:
        here = tmp_path / "simulator" / "harness" / "nomad_client.py"
        source = tmp_path / "deploy" / "nomad" / "github-runner.nomad.hcl"
        source.parent.mkdir(parents=True)
        source.write_text('job "github-runner" {}')
        assert runner_job_spec(here) == source

    def test_else_the_copy_an_installed_wheel_ships_beside_the_module(self, tmp_path: Path) -> None:
        here = tmp_path / "site-packages" / "simulator" / "harness" / "nomad_client.py"
        assert runner_job_spec(here) == here.with_name("github-runner.nomad.hcl")

    def test_the_wheel_puts_the_spec_where_the_module_looks(self) -> None:
        root = RUNNER_JOB_SPEC.parents[2]
        pyproject = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
        shipped = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
        module = Path(nomad_client.__file__).resolve().relative_to(root)
        assert shipped == {
            str(RUNNER_JOB_SPEC.relative_to(root)): str(module.with_name(RUNNER_JOB_SPEC.name))
        }


class TestHclVariables:
    def test_renders_strings_numbers_and_lists_as_hcl(self) -> None:
        text = hcl_variables({"runner_command": '/usr/bin/py "3"', "cpu": 100, "args": ["-m", "x"]})
        assert text == 'runner_command = "/usr/bin/py \\"3\\""\ncpu = 100\nargs = ["-m", "x"]\n'


class TestRegisterSpec:
    def test_the_task_runs_the_fake_runner_with_this_interpreter(self, nomad: NomadApi) -> None:
        job_id = nomad.register_spec(RUNNER_JOB_SPEC, runner_variables())
        assert job_id == "github-runner"
        job = nomad.get_job(job_id)
        task = job["TaskGroups"][0]["Tasks"][0]
        assert task["Config"]["command"] == sys.executable
        assert task["Config"]["args"] == ["-m", "simulator.runner"]
        assert task["Resources"]["CPU"] == 100
        assert job["ParameterizedJob"]["MetaRequired"] == [
            "REPO_FULL_NAME", "REPO_SHORT_NAME", "WORKFLOW_RUN", "GITHUB_JOB_ID", "RUNNER_NAME",
        ]  # fmt: skip
        assert job["Meta"] == {"managed_by": "runners-on-demand"}

    def test_a_parent_without_children_lists_none(self, nomad: NomadApi) -> None:
        nomad.register_spec(RUNNER_JOB_SPEC, runner_variables())
        assert nomad.list_children("github-runner") == []
        assert nomad.list_allocations("github-runner/dispatch-none") == []
