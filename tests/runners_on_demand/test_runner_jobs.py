"""What `GET /v1/jobs` said of a runner job, turned into the line an operator reads."""

from __future__ import annotations

import pytest

from runners_on_demand.decision import Policy, Pool
from runners_on_demand.ports.protocols import ListedJob
from runners_on_demand.runner_jobs import job_problem, runner_job_ids

RUNNER_JOB = ListedJob("github-runner", "batch", parameterized=True, stop=False)


class TestJobProblem:
    def test_a_parameterized_batch_job_running_is_no_problem(self) -> None:
        assert job_problem("github-runner", "default", RUNNER_JOB) is None

    def test_a_job_not_listed_is_not_registered_in_the_namespace(self) -> None:
        assert job_problem("github-runner", "ci", None) == (
            "runner job github-runner is not registered in namespace ci"
        )

    def test_a_stopped_job_is_stopped(self) -> None:
        stopped = ListedJob("github-runner", "batch", True, stop=True)
        assert job_problem("github-runner", "default", stopped) == (
            "runner job github-runner is stopped in namespace default"
        )

    @pytest.mark.parametrize(
        ("job_type", "parameterized", "said"),
        [("batch", False, "batch"), ("service", False, "service"), ("sysbatch", True, "sysbatch")],
    )
    def test_anything_but_a_parameterized_batch_job_is_said(
        self, job_type: str, parameterized: bool, said: str
    ) -> None:
        job = ListedJob("github-runner", job_type, parameterized, stop=False)
        assert job_problem("github-runner", "default", job) == (
            f"runner job github-runner is not a parameterized batch job (it is a {said} job)"
        )


def test_each_pools_runner_job_once_in_order() -> None:
    pools = (Pool("gpu", "gpu-runner", frozenset({"gpu"})), Pool("a", "github-runner"))
    policy = Policy(pools=(*pools, Pool("b", "gpu-runner")))
    assert runner_job_ids(policy) == ["gpu-runner", "github-runner"]
