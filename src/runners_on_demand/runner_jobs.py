"""Whether a runner job can be dispatched, from what `GET /v1/jobs` lists of it. Pure.

Nomad's dispatch refuses a job that is missing ("parameterized job not found"), not
parameterized ("is not a parameterized job") or stopped ("is stopped") (nomad/job_endpoint.go
Dispatch); rod says so at start and in `/readyz`, before any runner is made for nothing.
"""

from __future__ import annotations

from runners_on_demand.decision import Policy
from runners_on_demand.ports.protocols import ListedJob

__all__ = ["job_problem", "runner_job_ids"]


def runner_job_ids(policy: Policy) -> list[str]:
    """Each pool's `nomad_job`, once, in the pools' order."""
    return list(dict.fromkeys(pool.nomad_job for pool in policy.pools))


def job_problem(job_id: str, namespace: str, job: ListedJob | None) -> str | None:
    """Why a dispatch of `job_id` would fail, in one line; None when it can be dispatched."""
    where = f"runner job {job_id}"
    if job is None:
        return f"{where} is not registered in namespace {namespace}"
    if job.stop:
        return f"{where} is stopped in namespace {namespace}"
    # one runner per dispatch: a parameterized sysbatch job would run one on every node
    if not job.parameterized or job.type != "batch":
        return f"{where} is not a parameterized batch job (it is a {job.type or 'job'} job)"
    return None
