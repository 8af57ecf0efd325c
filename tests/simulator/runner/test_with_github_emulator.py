"""The fake runner as a real process against the real GitHub emulator, checked through REST."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from simulator.github import GitHubEmulator
from simulator.github.actions import JobSpec

if TYPE_CHECKING:
    from tests.simulator.runner.conftest import Launcher

TOKEN = "ghp_emulator_token"


@pytest.fixture
def github() -> Iterator[GitHubEmulator]:
    with GitHubEmulator(repos=["octo/hello"], tokens=[TOKEN]) as emulator:
        yield emulator


def _rest(github: GitHubEmulator, path: str) -> Any:
    headers = {"Authorization": f"Bearer {TOKEN}", "Accept": "application/vnd.github+json"}
    response = httpx.get(f"{github.url}/repos/octo/hello{path}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def _queue_job(github: GitHubEmulator, *, duration: float, conclusion: str = "success") -> int:
    spec = JobSpec(name="build", labels=["self-hosted"], duration_seconds=duration,
                   conclusion=conclusion)  # fmt: skip
    run = github.backend.create_run("octo", "hello", name="CI", event="push", jobs=[spec])
    return run.jobs[0].id


def _jit(github: GitHubEmulator, name: str = "rod-1-1") -> str:
    _, jit = github.backend.generate_jitconfig(
        "octo", "hello", name=name, runner_group_id=1, labels=["self-hosted"]
    )
    return jit


def test_a_jit_runner_takes_the_job_reports_it_and_is_gone(
    github: GitHubEmulator, launcher: Launcher
) -> None:
    job_id = _queue_job(github, duration=0.1, conclusion="failure")
    jit = _jit(github)
    launcher.write_payload(url=f"{github.url}/octo/hello")
    launcher.write_credential(jit_config=jit)

    result = launcher.run("--poll-wait", "1")

    assert result.returncode == 0, result.stderr
    job = _rest(github, f"/actions/jobs/{job_id}")
    assert (job["status"], job["conclusion"], job["runner_name"]) == (
        "completed", "failure", "rod-1-1",
    )  # fmt: skip
    assert _rest(github, "/actions/runners")["total_count"] == 0

    launcher.write_credential(jit_config=jit)
    again = launcher.run("--give-up", "1")  # the same JIT config, used

    assert again.returncode == 3
    assert "credential rejected (401)" in again.stderr
    assert jit not in again.stderr


def test_registration_token_mode(github: GitHubEmulator, launcher: Launcher) -> None:
    job_id = _queue_job(github, duration=0)
    token, _ = github.backend.create_registration_token("octo", "hello")
    launcher.write_payload(url=f"{github.url}/octo/hello")
    launcher.write_credential(registration_token=token)
    env = launcher.env(NOMAD_META_RUNNER_NAME="rod-7-1", NOMAD_META_RUNNER_LABELS="self-hosted")

    result = launcher.run(env=env)

    assert result.returncode == 0, result.stderr
    job = _rest(github, f"/actions/jobs/{job_id}")
    assert (job["conclusion"], job["runner_name"]) == ("success", "rod-7-1")
    assert token not in result.stdout + result.stderr


def test_sigterm_mid_job_cancels_it(github: GitHubEmulator, launcher: Launcher) -> None:
    job_id = _queue_job(github, duration=600)
    launcher.write_credential(jit_config=_jit(github))
    process = launcher.start()
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if "running job" in line:
                break
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
    finally:
        process.kill()
        process.wait()

    assert process.returncode == 143
    job = _rest(github, f"/actions/jobs/{job_id}")
    assert (job["status"], job["conclusion"]) == ("completed", "cancelled")


def _queue_private_job(github: GitHubEmulator) -> int:
    github.backend.create_repo("octo/private", private=True)
    spec = JobSpec(name="build", labels=["self-hosted"])
    run = github.backend.create_run("octo", "private", name="CI", event="push", jobs=[spec])
    return run.jobs[0].id


def _job(github: GitHubEmulator, repo: str, job_id: int) -> Any:
    headers = {"Authorization": f"Bearer {TOKEN}", "Accept": "application/vnd.github+json"}
    response = httpx.get(f"{github.url}/repos/{repo}/actions/jobs/{job_id}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def test_an_org_jit_runner_takes_a_job_its_group_allows(
    github: GitHubEmulator, launcher: Launcher
) -> None:
    job_id = _queue_private_job(github)
    group = github.backend.create_runner_group("octo", name="builders")
    _, jit = github.backend.generate_jitconfig(
        "octo", None, name="rod-org-1", runner_group_id=group.id, labels=["self-hosted"]
    )
    launcher.write_payload(url=f"{github.url}/octo")
    launcher.write_credential(jit_config=jit)

    result = launcher.run("--poll-wait", "1")

    assert result.returncode == 0, result.stderr
    job = _job(github, "octo/private", job_id)
    assert (job["conclusion"], job["runner_name"], job["runner_group_name"]) == (
        "success", "rod-org-1", "builders",
    )  # fmt: skip


def test_org_registration_token_mode_with_a_runner_group(
    github: GitHubEmulator, launcher: Launcher
) -> None:
    job_id = _queue_private_job(github)
    group = github.backend.create_runner_group("octo", name="builders")
    token, _ = github.backend.create_registration_token("octo")
    launcher.write_payload(url=f"{github.url}/octo", runner_group="builders")
    launcher.write_credential(registration_token=token)
    env = launcher.env(NOMAD_META_RUNNER_NAME="rod-org-2", NOMAD_META_RUNNER_LABELS="self-hosted")

    result = launcher.run(env=env)

    assert result.returncode == 0, result.stderr
    assert "in runner group builders" in result.stdout
    job = _job(github, "octo/private", job_id)
    assert (job["runner_name"], job["runner_group_id"]) == ("rod-org-2", group.id)


def test_an_org_runner_waits_for_a_job_its_group_allows(
    github: GitHubEmulator, launcher: Launcher
) -> None:
    job_id = _queue_job(github, duration=0)  # octo/hello is public: the default group refuses it
    _, jit = github.backend.generate_jitconfig(
        "octo", None, name="rod-org-3", runner_group_id=1, labels=["self-hosted"]
    )
    launcher.write_credential(jit_config=jit)

    result = launcher.run("--poll-wait", "0.2", "--give-up", "1")

    assert result.returncode == 5
    assert _rest(github, f"/actions/jobs/{job_id}")["status"] == "queued"
