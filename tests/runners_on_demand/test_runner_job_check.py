"""Asking Nomad about each runner job: one line per job that cannot be dispatched."""

from __future__ import annotations

import asyncio

from runners_on_demand.ports.protocols import ListedJob
from runners_on_demand.runner_job_check import job_check, runner_job_problems, runner_jobs_line
from tests.runners_on_demand.fakes import FakeNomad


async def test_each_job_is_asked_and_only_problems_are_lines() -> None:
    nomad = FakeNomad()
    nomad.jobs["gpu-runner"] = ListedJob("gpu-runner", "service", False, False)
    jobs = ["github-runner", "gpu-runner", "arm-runner"]
    assert await runner_job_problems(nomad, jobs, "ci") == [
        "runner job gpu-runner is not a parameterized batch job (it is a service job)",
        "runner job arm-runner is not registered in namespace ci",
    ]
    assert [call for call in nomad.calls if call[0] == "find_job"] == [
        ("find_job", job) for job in jobs
    ]


async def test_a_nomad_that_cannot_answer_is_a_line_too() -> None:
    nomad = FakeNomad()
    nomad.down = True
    assert await runner_jobs_line(nomad, ["github-runner"], "default", 5.0) == (
        "cannot check runner job github-runner: Nomad GET /v1/jobs: ConnectError"
    )


async def test_the_readiness_line_is_ok_or_the_problems_joined() -> None:
    nomad = FakeNomad()
    assert await runner_jobs_line(nomad, ["github-runner"], "default", 5.0) == "ok"
    line = await runner_jobs_line(nomad, ["a", "b"], "default", 5.0)
    assert line == (
        "runner job a is not registered in namespace default; "
        "runner job b is not registered in namespace default"
    )


async def test_a_nomad_that_does_not_answer_in_time_is_said() -> None:
    class Hanging(FakeNomad):
        async def find_job(self, job_id: str) -> ListedJob | None:
            await asyncio.Event().wait()
            return None

    assert await runner_jobs_line(Hanging(), ["github-runner"], "default", 0.01) == (
        "no answer within 0s"
    )


async def test_the_readiness_line_counts_the_runners_waiting_for_a_runner_job() -> None:
    nomad = FakeNomad()
    nomad.jobs = {}
    held = {"github-runner": 3, "gpu-runner": 0}
    assert await runner_jobs_line(nomad, ["github-runner"], "default", 5.0, held) == (
        "runner job github-runner is not registered in namespace default; "
        "3 runners wait until runner job github-runner can be dispatched"
    )


async def test_the_pipelines_check_is_the_same_judgement() -> None:
    nomad = FakeNomad()
    check = job_check(nomad, "ci")
    assert await check("github-runner") is None
    assert await check("arm-runner") == "runner job arm-runner is not registered in namespace ci"
