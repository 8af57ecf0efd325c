"""Ask Nomad whether each runner job can be dispatched: at start, in `/readyz`, in `rod reconcile`,
and while the pipeline holds a runner job's runners (runner_job_hold.py).

The answers come from `NomadPort.find_job` (the `list-jobs` capability rod already holds);
`runner_jobs.job_problem` judges them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from runners_on_demand.errors import NomadError
from runners_on_demand.ports import NomadPort
from runners_on_demand.runner_job_hold import JobCheck
from runners_on_demand.runner_jobs import job_problem

__all__ = ["job_check", "runner_job_problems", "runner_jobs_line"]


def job_check(nomad: NomadPort, namespace: str) -> JobCheck:
    """Why a runner job cannot be dispatched, or None; NomadError when Nomad does not tell."""

    async def check(job_id: str) -> str | None:
        return job_problem(job_id, namespace, await nomad.find_job(job_id))

    return check


async def runner_job_problems(
    nomad: NomadPort, job_ids: Sequence[str], namespace: str
) -> list[str]:
    """One line per runner job that cannot be dispatched, or whose state Nomad did not tell."""
    check = job_check(nomad, namespace)
    problems = []
    for job_id in job_ids:
        try:
            problem = await check(job_id)
        except NomadError as error:
            problem = f"cannot check runner job {job_id}: {error}"
        if problem is not None:
            problems.append(problem)
    return problems


async def runner_jobs_line(
    nomad: NomadPort,
    job_ids: Sequence[str],
    namespace: str,
    timeout: float,
    held: Mapping[str, int] | None = None,
) -> str:
    """What `/readyz` shows: "ok", or the problems in one line, then the runners `held` (parked
    by runner job) until their runner job can be dispatched."""
    try:
        problems = await asyncio.wait_for(runner_job_problems(nomad, job_ids, namespace), timeout)
    except TimeoutError:
        problems = [f"no answer within {timeout:.0f}s"]
    for job, count in (held or {}).items():
        if count:
            problems.append(f"{count} runners wait until runner job {job} can be dispatched")
    return "; ".join(problems) or "ok"
