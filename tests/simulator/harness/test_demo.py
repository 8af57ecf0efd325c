"""rod demo's pieces that need no stack: the pull request it opens and when it is over."""

from __future__ import annotations

from simulator.harness.demo import finished, pull_request_jobs
from simulator.harness.observe import AllocationView, ChildView, JobView, RunnerView, Snapshot

DONE = JobView(1, 10, "build", ("self-hosted", "linux"), "completed", "success", 5, "rod-1-1")
META = {"RUNNER_NAME": "rod-1-1", "GITHUB_JOB_ID": "1"}
RUNNER = RunnerView(5, "rod-1-1", "online", True, ("self-hosted", "linux"))


def child(allocation: str) -> ChildView:
    return ChildView(
        "github-runner/dispatch-1-a", "dead", META, (AllocationView("a1", allocation),)
    )


class TestPullRequestJobs:
    def test_distinct_self_hosted_label_sets_then_one_hosted_job(self) -> None:
        jobs = pull_request_jobs(3, 1.0)
        assert len(jobs) == 4
        assert all(job.self_hosted for job in jobs[:3])
        assert len({job.labels for job in jobs[:3]}) == 3
        assert jobs[-1].labels == ("ubuntu-latest",) and not jobs[-1].self_hosted

    def test_names_stay_unique_beyond_the_label_sets(self) -> None:
        jobs = pull_request_jobs(9, 1.0)
        names = [job.name for job in jobs]
        assert len(set(names)) == len(names) == 10


class TestFinished:
    def test_waits_for_every_job_and_for_the_drain(self) -> None:
        done = Snapshot(jobs=(DONE,), children=(child("complete"),))
        assert finished(done, expected_jobs=1)
        assert not finished(done, expected_jobs=2)
        assert not finished(Snapshot(jobs=done.jobs, children=(child("running"),)), 1)
        assert not finished(Snapshot(jobs=done.jobs, runners=(RUNNER,)), 1)
