"""The Actions job queue as pure state: matching, lifecycles, JIT runners."""

from __future__ import annotations

import pytest

from simulator.clock import Clock
from simulator.github.actions import JOB_LIFECYCLE, Actions, Job, JobSpec
from simulator.github.errors import Conflict, RunnerCredentialRejected, ValidationFailed
from simulator.lifecycle import IllegalTransition

REPO = "acme/app"


@pytest.fixture
def events() -> list[tuple[int, str]]:
    return []


@pytest.fixture
def actions(events: list[tuple[int, str]]) -> Actions:
    def emit(job: Job, action: str) -> None:
        events.append((job.id, action))

    return Actions(Clock(), emit, jit_connect_timeout=120)


def _run(actions: Actions, *labels: list[str]) -> list[Job]:
    specs = [JobSpec(name=f"job{i}", labels=list(ls)) for i, ls in enumerate(labels)]
    return actions.create_run(REPO, name="CI", event="push", head_branch="main", jobs=specs).jobs


def _online(actions: Actions, name: str, labels: list[str], scope: str = REPO) -> tuple[str, str]:
    runner = actions.add_runner(
        scope, name=name, labels=labels, group_id=1, jit=True, ephemeral=True
    )
    session = actions.open_session(runner.secret)
    assert session.session_id is not None
    return runner.secret, session.session_id


class TestCreateRun:
    def test_jobs_start_queued_with_one_event_each(self, actions: Actions, events: list) -> None:
        jobs = _run(actions, ["self-hosted"], ["self-hosted", "gpu"])
        assert [j.status for j in jobs] == ["queued", "queued"]
        assert events == [(jobs[0].id, "queued"), (jobs[1].id, "queued")]
        assert all(j.runner_id is None and j.started_at is not None for j in jobs)

    def test_rejects_unknown_conclusion(self, actions: Actions) -> None:
        spec = JobSpec(name="x", labels=["a"], conclusion="exploded")
        with pytest.raises(ValidationFailed):
            actions.create_run(REPO, name="CI", event="push", head_branch="main", jobs=[spec])


class TestAcquireJob:
    def test_labels_match_case_insensitively_as_a_superset(self, actions: Actions) -> None:
        (job,) = _run(actions, ["Self-Hosted", "LINUX"])
        secret, session = _online(actions, "r1", ["self-hosted", "linux", "x64"])
        assert actions.acquire_job(secret, session) is job
        assert job.status == "in_progress" and job.runner_name == "r1"

    def test_a_runner_missing_a_label_gets_nothing(self, actions: Actions) -> None:
        _run(actions, ["self-hosted", "gpu"])
        secret, session = _online(actions, "r1", ["self-hosted"])
        assert actions.acquire_job(secret, session) is None

    def test_a_runner_is_never_reserved_for_one_job(self, actions: Actions) -> None:
        first, second = _run(actions, ["self-hosted"], ["self-hosted"])
        # the runner "made for" the second job takes the oldest queued one instead
        secret, session = _online(actions, f"rod-{second.id}-1", ["self-hosted"])
        assert actions.acquire_job(secret, session) is first

    def test_runners_of_another_repo_do_not_match(self, actions: Actions) -> None:
        _run(actions, ["self-hosted"])
        secret, session = _online(actions, "r1", ["self-hosted"], scope="other/repo")
        assert actions.acquire_job(secret, session) is None

    def test_org_runners_take_jobs_of_the_org(self, actions: Actions) -> None:
        (job,) = _run(actions, ["self-hosted"])
        secret, session = _online(actions, "r1", ["self-hosted"], scope="acme")
        assert actions.acquire_job(secret, session) is job


class TestJitRunner:
    def test_runs_one_job_then_is_removed(self, actions: Actions, events: list) -> None:
        first, second = _run(actions, ["a"], ["a"])
        secret, session = _online(actions, "r1", ["a"])
        assert actions.acquire_job(secret, session) is first
        runner_id = first.runner_id
        actions.complete_job(secret, first.id, "failure")
        assert first.conclusion == "failure" and first.status == "completed"
        assert runner_id not in actions.runners
        assert events[-2:] == [(first.id, "in_progress"), (first.id, "completed")]
        with pytest.raises(RunnerCredentialRejected):
            actions.acquire_job(secret, session)
        assert second.status == "queued"

    def test_one_that_never_connects_is_removed_after_the_timeout(self, actions: Actions) -> None:
        runner = actions.add_runner(
            REPO, name="r1", labels=["a"], group_id=1, jit=True, ephemeral=True
        )
        actions.clock.advance(119)
        assert actions.list_runners(REPO) == [runner]
        actions.clock.advance(1)
        assert actions.list_runners(REPO) == []
        with pytest.raises(RunnerCredentialRejected):
            actions.open_session(runner.secret)

    def test_duplicate_name_conflicts(self, actions: Actions) -> None:
        actions.add_runner(REPO, name="r1", labels=["a"], group_id=1, jit=True, ephemeral=True)
        with pytest.raises(Conflict):
            actions.add_runner(REPO, name="r1", labels=["a"], group_id=1, jit=True, ephemeral=True)

    def test_busy_runner_cannot_be_deleted(self, actions: Actions) -> None:
        (job,) = _run(actions, ["a"])
        secret, session = _online(actions, "r1", ["a"])
        actions.acquire_job(secret, session)
        assert job.runner_id is not None
        with pytest.raises(ValidationFailed, match="still running a job"):
            actions.delete_runner(REPO, job.runner_id)


class TestCancelJob:
    def test_queued_job_completes_cancelled_with_no_runner(
        self, actions: Actions, events: list
    ) -> None:
        (job,) = _run(actions, ["a"])
        events.clear()
        actions.cancel_job(job.id)
        assert events == [(job.id, "completed")]
        assert (job.conclusion, job.steps, job.runner_id) == ("cancelled", [], None)
        assert job.completed_at == job.started_at

    def test_a_cancelled_job_is_never_assigned(self, actions: Actions) -> None:
        (job,) = _run(actions, ["a"])
        actions.cancel_job(job.id)
        secret, session = _online(actions, "r1", ["a"])
        assert actions.acquire_job(secret, session) is None

    def test_completed_jobs_cannot_be_cancelled(self, actions: Actions) -> None:
        (job,) = _run(actions, ["a"])
        actions.cancel_job(job.id)
        with pytest.raises(Conflict):
            actions.cancel_job(job.id)


def test_job_lifecycle_table_refuses_going_back() -> None:
    with pytest.raises(IllegalTransition):
        JOB_LIFECYCLE.check("completed", "queued")
    assert JOB_LIFECYCLE.check("waiting", "queued") == "queued"
