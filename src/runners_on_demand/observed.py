"""What the reconciler observes of GitHub and Nomad, and the parsers from their JSON. Pure.

The ports (ports/github.py, ports/nomad.py) parse their answers into these types; the planner
(reconcile/plan.py) reads them. Neither imports the other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from runners_on_demand.events import Intake, Origin, WorkflowJobEvent
from runners_on_demand.names import is_valid_full_name

__all__ = [
    "MANAGED_BY",
    "MANAGED_BY_KEY",
    "Child",
    "QueuedJob",
    "Runner",
    "child_from_stub",
    "queued_job_from_rest",
    "runner_from_rest",
    "timestamp",
]

# The parent job's meta, inherited by every dispatched child (deploy/nomad/github-runner.nomad.hcl).
MANAGED_BY_KEY = "managed_by"
MANAGED_BY = "runners-on-demand"


@dataclass(frozen=True)
class QueuedJob:
    """A queued workflow job from GitHub's REST API, as the webhook path would have seen it."""

    event: WorkflowJobEvent
    queued_at: float | None = None  # the job's created_at, seconds since the epoch


@dataclass(frozen=True)
class Child:
    """A dispatched child of a runner job, from Nomad's job list."""

    id: str
    parent_id: str
    status: str  # pending | running | dead (https://developer.hashicorp.com/nomad/api-docs/jobs)
    stop: bool
    meta: Mapping[str, str]
    submit_time: float  # seconds since the epoch
    failed: bool  # an allocation failed or was lost

    @property
    def live(self) -> bool:
        """Still wanted by Nomad: not stopped and not dead."""
        return not self.stop and self.status != "dead"


@dataclass(frozen=True)
class Runner:
    """A self-hosted runner registered on a repository or on an organization."""

    repo: str  # where: `owner/repo`, or the organization's login (`RunnerScope` key)
    id: int
    name: str
    status: str  # online | offline
    busy: bool
    labels: tuple[str, ...] = ()


def queued_job_from_rest(job: Mapping[str, Any], repository: Mapping[str, Any]) -> QueuedJob | None:
    """A REST workflow job and its run's repository as a `queued` event; None if unusable."""
    # https://docs.github.com/rest/actions/workflow-jobs#list-jobs-for-a-workflow-run
    try:
        full_name = str(repository["full_name"])
        labels = job["labels"]
        job_id, run_id, attempt = int(job["id"]), int(job["run_id"]), int(job.get("run_attempt", 1))
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            return None
        owner, _, name = full_name.partition("/")
        event = WorkflowJobEvent(
            origin=Origin(Intake.RECONCILE, f"{job_id}-{attempt}"),
            action="queued",
            job_id=job_id,
            run_id=run_id,
            run_attempt=attempt,
            job_name=str(job.get("name") or ""),
            workflow_name=job.get("workflow_name"),
            labels=tuple(labels),
            status=str(job["status"]),
            conclusion=None,
            runner_id=None,
            runner_name=None,
            repo_full_name=full_name,
            repo_owner=owner,
            repo_name=name,
            repo_html_url=str(repository["html_url"]),
            fork=bool(repository.get("fork", False)),
            installation_id=None,
            repo_private=_flag(repository.get("private")),
        )
    except (KeyError, TypeError, ValueError):
        return None
    if event.status != "queued" or min(job_id, run_id, attempt) < 1:
        return None
    if not is_valid_full_name(full_name):
        return None
    return QueuedJob(event=event, queued_at=timestamp(job.get("created_at")))


def runner_from_rest(repo: str, runner: Mapping[str, Any]) -> Runner | None:
    """A runner of `GET /repos/{owner}/{repo}/actions/runners` (or `/orgs/{org}/...`, `repo`
    then the org); None if unusable."""
    # https://docs.github.com/rest/actions/self-hosted-runners#list-self-hosted-runners-for-a-repository
    try:
        labels = tuple(str(label["name"]) for label in runner.get("labels") or ())
        return Runner(
            repo=repo,
            id=int(runner["id"]),
            name=str(runner["name"]),
            status=str(runner["status"]),
            busy=bool(runner["busy"]),
            labels=labels,
        )
    except (KeyError, TypeError, ValueError):
        return None


def child_from_stub(stub: Mapping[str, Any]) -> Child | None:
    """A `GET /v1/jobs?meta=true` stub as a Child; None unless it is a dispatched child."""
    # https://developer.hashicorp.com/nomad/api-docs/jobs#list-jobs (JobListStub)
    parent = stub.get("ParentID")
    if not isinstance(parent, str) or not parent:
        return None
    meta = stub.get("Meta") or {}
    summary = (stub.get("JobSummary") or {}).get("Summary") or {}
    try:
        failed = any(int(g.get("Failed", 0)) + int(g.get("Lost", 0)) > 0 for g in summary.values())
        return Child(
            id=str(stub["ID"]),
            parent_id=parent,
            status=str(stub["Status"]),
            stop=bool(stub.get("Stop", False)),
            meta={str(k): str(v) for k, v in meta.items()},
            submit_time=int(stub.get("SubmitTime") or 0) / 1e9,
            failed=failed,
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def _flag(value: Any) -> bool | None:
    """A JSON boolean, or None."""
    return value if isinstance(value, bool) else None


def timestamp(value: Any) -> float | None:
    """An ISO 8601 time as seconds since the epoch; None if absent or unreadable."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
