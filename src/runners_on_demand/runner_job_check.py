"""Ask Nomad whether each runner job can be dispatched: at start, in `/readyz`, in `rod reconcile`.

The answers come from `NomadPort.find_job` (the `list-jobs` capability rod already holds);
`runner_jobs.job_problem` judges them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from runners_on_demand.errors import NomadError
from runners_on_demand.ports import NomadPort
from runners_on_demand.runner_jobs import job_problem

__all__ = ["runner_job_problems", "runner_jobs_line"]


async def runner_job_problems(
    nomad: NomadPort, job_ids: Sequence[str], namespace: str
) -> list[str]:
    """One line per runner job that cannot be dispatched, or whose state Nomad did not tell."""
    problems = []
    for job_id in job_ids:
        try:
            problem = job_problem(job_id, namespace, await nomad.find_job(job_id))
        except NomadError as error:
            problem = f"cannot check runner job {job_id}: {error}"
        if problem is not None:
            problems.append(problem)
    return problems


async def runner_jobs_line(
    nomad: NomadPort, job_ids: Sequence[str], namespace: str, timeout: float
) -> str:
    """What `/readyz` shows: "ok", or the problems in one line."""
    try:
        problems = await asyncio.wait_for(runner_job_problems(nomad, job_ids, namespace), timeout)
    except TimeoutError:
        return f"no answer within {timeout:.0f}s"
    return "; ".join(problems) or "ok"
