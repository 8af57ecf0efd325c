"""ci/github-actions.yml, the workflow forks copy: checked here, where it never runs.

Valid YAML with the two jobs; every `run` step a `make` target the Makefile has (so everything
the jobs run also runs here, or is scripts/docker_smoke.py, which tests/scripts drives with a
fake docker); the compose job's image builds, caches, teardown and uploads; every uploaded path
one the suite writes; every action pinned to a major version at least.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from simulator import compose
from simulator.harness.settings import StackSettings
from simulator.livedoc import __main__ as livedoc_main
from tests.scripts import load_script
from tests.simulator.livedoc import test_browser

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW: dict[str, Any] = yaml.safe_load((ROOT / "ci" / "github-actions.yml").read_text())
JOBS: dict[str, Any] = WORKFLOW["jobs"]
# owner/repo[/path]@vN[.N[.N]] or a full commit SHA.
PINNED = re.compile(r"[\w.-]+/[\w.-]+(/[\w./-]+)?@(v\d+(\.\d+){0,2}|[0-9a-f]{40})")
# Written by a sibling's living-documentation build where it exists; uploaded only if present.
LIVEDOC = "build/livedoc/"
SCREENSHOTS = "build/livedoc-screenshots/"


def steps(job: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = JOBS[job]["steps"]
    return found


def uses(job: str, action: str) -> list[dict[str, Any]]:
    """The job's steps that use `action` (any version)."""
    return [step for step in steps(job) if step.get("uses", "").split("@")[0] == action]


def make_targets() -> set[str]:
    """Every rule name the Makefile defines."""
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([\w-]+)\s*:(?!=)", text, flags=re.MULTILINE))


def livedoc_paths() -> set[str]:
    """Where `make docs` writes the site and the browser test its screenshots."""
    site = livedoc_main.SITE.relative_to(ROOT)
    shots = test_browser.SHOTS.relative_to(ROOT)
    assert f"{site}/" == LIVEDOC and f"{shots}/" == SCREENSHOTS
    return {LIVEDOC, SCREENSHOTS}


def written_paths() -> set[str]:
    """Directories the suite writes: behave's junit_directory and the harness's log dir."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    junit = pyproject["tool"]["behave"]["junit_directory"]
    logs = StackSettings().log_dir.relative_to(ROOT)
    assert StackSettings().log_dir == compose.LOG_DIR  # the agent's log lands there too
    return {f"{junit}/", f"{logs}/"}


class TestShape:
    def test_triggers_and_read_only_token(self) -> None:
        triggers = WORKFLOW.get("on", WORKFLOW.get(True))  # YAML 1.1 reads a bare `on` as true
        assert set(triggers) == {"push", "pull_request"}
        assert WORKFLOW["permissions"] == {"contents": "read"}

    @pytest.mark.parametrize("job", ["test", "compose"])
    def test_jobs_on_ubuntu_latest_with_a_timeout(self, job: str) -> None:
        assert JOBS[job]["runs-on"] == "ubuntu-latest"
        assert 0 < JOBS[job]["timeout-minutes"] <= 15

    @pytest.mark.parametrize("job", ["test", "compose"])
    def test_python_with_pip_caching(self, job: str) -> None:
        (setup,) = uses(job, "actions/setup-python")
        assert setup["with"]["python-version"] == "3.11"
        assert setup["with"]["cache"] == "pip"
        assert (ROOT / setup["with"]["cache-dependency-path"]).exists()

    def test_every_action_is_pinned_to_a_major_version_at_least(self) -> None:
        actions = [step["uses"] for job in JOBS for step in steps(job) if "uses" in step]
        assert actions
        assert [action for action in actions if not PINNED.fullmatch(action)] == []


class TestMakeTargets:
    def run_commands(self) -> list[list[str]]:
        return [shlex.split(step["run"]) for job in JOBS for step in steps(job) if "run" in step]

    def test_every_run_step_is_make_and_its_targets_exist(self) -> None:
        targets = make_targets()
        for command in self.run_commands():
            assert command[0] == "make", command
            named = [word for word in command[1:] if not word.startswith("-") and "=" not in word]
            assert named and set(named) <= targets, command

    def test_make_targets_named_in_prose_exist(self) -> None:
        # The workflow's comments and README once named `make acceptance-webhook`, never a target.
        for path in (ROOT / "ci" / "github-actions.yml", ROOT / "README.md"):
            named = set(re.findall(r"`make ([\w-]+)", path.read_text(encoding="utf-8")))
            assert named and named <= make_targets(), (path.name, named - make_targets())

    def test_the_test_job_runs_make_test_and_the_compose_job_the_smoke(self) -> None:
        def names(job: str) -> list[str]:
            return [shlex.split(step["run"])[1:] for step in steps(job) if "run" in step]

        assert names("test") == [["-k", "test", "PYTHON=python3.11"]]
        assert names("compose") == [
            ["docker-smoke", "PYTHON=python3.11"],
            ["docker-down", "PYTHON=python3.11"],
        ]


class TestComposeJob:
    def test_a_missing_docker_engine_fails_the_job(self) -> None:
        assert JOBS["compose"]["env"]["DOCKER_SMOKE_REQUIRED"] == "1"

    def test_images_built_with_layers_cached_in_github_and_tagged_as_the_smoke_expects(
        self,
    ) -> None:
        smoke = load_script("docker_smoke")
        order = [step.get("uses", step.get("run", "")).split("@")[0] for step in steps("compose")]
        assert order.index("docker/setup-buildx-action") < order.index("docker/build-push-action")
        pushes = uses("compose", "docker/build-push-action")
        builds = {step["with"]["target"]: step["with"] for step in pushes}
        assert {target: spec["tags"] for target, spec in builds.items()} == {
            "nomad-agent": smoke.AGENT_IMAGE,
            "rod": smoke.ROD_IMAGE,
        }
        for target, spec in builds.items():
            assert spec["context"] == "." and spec["load"] is True
            assert spec["cache-from"] == f"type=gha,scope={target}"
            assert spec["cache-to"] == f"type=gha,mode=max,scope={target}"
        smoke_step = next(name for name in order if "docker-smoke" in name)
        assert order.index("docker/build-push-action") < order.index(smoke_step)

    def test_teardown_and_uploads_run_even_after_a_failure(self) -> None:
        runs = [step.get("run", "") for step in steps("compose")]
        smoke_at = next(i for i, run in enumerate(runs) if "docker-smoke" in run)
        for step in steps("compose")[smoke_at + 1 :]:
            assert step.get("if") == "always()", step

    def test_uploads_junit_logs_and_the_living_documentation(self) -> None:
        paths = {step["with"]["path"] for step in uses("compose", "actions/upload-artifact")}
        assert paths == written_paths() | {LIVEDOC}


class TestUploads:
    def uploads(self) -> list[dict[str, Any]]:
        return [step for job in JOBS for step in uses(job, "actions/upload-artifact")]

    def test_every_uploaded_path_is_one_the_suite_writes(self) -> None:
        for step in self.uploads():
            for path in step["with"]["path"].split():
                assert path in written_paths() | livedoc_paths(), path
            if step["with"]["path"] == LIVEDOC:  # the compose job may have built no site
                assert step["with"]["if-no-files-found"] == "ignore"

    def test_the_test_job_uploads_the_living_documentation_and_its_screenshots(self) -> None:
        paths = {
            p
            for step in uses("test", "actions/upload-artifact")
            for p in step["with"]["path"].split()
        }
        assert livedoc_paths() <= paths

    def test_artifact_names_are_unique_in_a_run(self) -> None:
        names = [step["with"]["name"] for step in self.uploads()]
        assert len(set(names)) == len(names)
