"""Runner scale sets as data: scale sets, message sessions, runner requests, messages, statistics.

A *runner request* is one workflow job offered to one scale set. Its states are the ones the
service's statistics count ([A] docs/adrs/2023-05-08-exposing-metrics.md): `available` (offered,
JobAvailable) -> `acquired` (the listener called acquirejobs) -> `assigned` (the service gave it to
the scale set, within X-ScaleSetMaxCapacity: JobAssigned) -> `running` (a scale-set runner took it:
JobStarted) -> `completed` (JobCompleted). GitHub's reassignment sends an assigned request back to
`available` after a JobCompleted "canceled" ([S] README "Job Reassignment").
Shapes follow [S] types.go ([S] = actions/scaleset @6ce0259, [A] = actions-runner-controller).
Pure state and JSON shapes: no I/O, no clock reads, no locks.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from simulator.github.actions import Job, Run, Runner
from simulator.lifecycle import lifecycle

REQUEST_LIFECYCLE = lifecycle(
    "runner_request",
    {
        "available": ("acquired", "completed"),
        "acquired": ("assigned", "completed"),
        "assigned": ("running", "available", "completed"),  # -> available: reassignment
        "running": ("completed",),
        "completed": (),
    },
)
MESSAGE_TYPE = "RunnerScaleSetJobMessages"
MAX_ENTRIES = 50  # "Responses contain at most 50 messages" ([S] README)
ZERO_TIME = "0001-01-01T00:00:00Z"  # an unset time, as Go and .NET spell it
# REST conclusion -> JobCompleted `result`; only "canceled" is confirmed ([S] README).
RESULTS = {
    "success": "succeeded",
    "failure": "failed",
    "cancelled": "canceled",
    "skipped": "skipped",
    "neutral": "succeeded",
    "timed_out": "failed",
}
_JOB_NAMESPACE = uuid.UUID("5d0c5c8e-0b8a-4a53-9d0e-3f3c2b7f7a10")


def stamp(timestamp: float | None) -> str:
    """RFC 3339 with microseconds, or the zero time when unset."""
    if timestamp is None:
        return ZERO_TIME
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class RunnerGroup:
    """A runner group as the service lists it."""

    id: int
    name: str
    is_default: bool

    def to_json(self, size: int) -> dict[str, Any]:
        """[S] RunnerGroup."""
        return {"id": self.id, "name": self.name, "size": size, "isDefaultGroup": self.is_default}


@dataclass
class Message:
    """One message of a scale set's queue: up to 50 job entries, kept until acknowledged."""

    id: int
    entries: list[dict[str, Any]]

    def to_json(self, statistics: dict[str, int]) -> dict[str, Any]:
        """[S] runnerScaleSetMessageResponse: `body` is the entries as a JSON *string*."""
        return {
            "messageId": self.id,
            "messageType": MESSAGE_TYPE,
            "body": json.dumps(self.entries),
            "statistics": statistics,
        }


@dataclass
class ScaleSet:
    """A runner scale set of one scope (`owner/repo` or `org`), with its message queue."""

    id: int
    scope: str
    name: str
    group: RunnerGroup
    labels: list[dict[str, str]]
    runner_setting: dict[str, Any]
    created_at: float
    max_capacity: int | None = None  # from the last poll's X-ScaleSetMaxCapacity
    stale_until: float = 0.0  # a crashed holder's session blocks new ones until then (fault)
    outbox: list[dict[str, Any]] = field(default_factory=list)  # entries not yet in a message
    unacked: dict[int, Message] = field(default_factory=dict)

    def label_names(self) -> list[str]:
        """The names a job's `runs-on` may use: the labels and the scale set's own name."""
        names = [label["name"] for label in self.labels]
        return names if self.name in names else [*names, self.name]

    def matches(self, labels: Iterable[str]) -> bool:
        """True when every label of a job is one of this scale set's, case-insensitively."""
        mine = {name.casefold() for name in self.label_names()}
        wanted = [label.casefold() for label in labels]
        return bool(wanted) and all(label in mine for label in wanted)

    def in_scope(self, job: Job) -> bool:
        """A repository scale set serves its repository; an organization's, all of the org's."""
        return self.scope in (job.repo, job.repo.split("/")[0])

    def to_json(self, service_url: str, statistics: dict[str, int]) -> dict[str, Any]:
        """[S] RunnerScaleSet (`RunnerSetting` with a capital R, as the service spells it)."""
        return {
            "id": self.id,
            "name": self.name,
            "runnerGroupId": self.group.id,
            "runnerGroupName": self.group.name,
            "labels": [dict(label) for label in self.labels],
            "RunnerSetting": dict(self.runner_setting),
            "createdOn": stamp(self.created_at),
            "runnerJitConfigUrl": (
                f"{service_url}_apis/runtime/runnerscalesets/{self.id}/generatejitconfig"
            ),
            "statistics": statistics,
        }


@dataclass
class Session:
    """A message session: the one listener of a scale set, and its message-queue token."""

    id: str
    scale_set_id: int
    owner: str
    token: str = field(repr=False)
    token_expires: float
    last_seen: float
    polls: int = 0  # GET message calls being held right now

    def to_json(self, scale_set: dict[str, Any], queue_url: str) -> dict[str, Any]:
        """[S] RunnerScaleSetSession."""
        return {
            "sessionId": self.id,
            "ownerName": self.owner,
            "runnerScaleSet": scale_set,
            "messageQueueUrl": queue_url,
            "messageQueueAccessToken": self.token,
            "statistics": scale_set["statistics"],
        }


@dataclass
class RunnerRequest:
    """One job offered to one scale set, moving through REQUEST_LIFECYCLE."""

    id: int
    job_id: int
    scale_set_id: int
    queue_time: float
    state: str = "available"
    assign_time: float | None = None
    runner_assign_time: float | None = None
    finish_time: float | None = None
    runner_id: int = 0
    runner_name: str = ""
    result: str = ""
    reassignments: int = 0

    def move(self, new: str) -> None:
        """Change state through REQUEST_LIFECYCLE."""
        self.state = REQUEST_LIFECYCLE.check(self.state, new)


def job_guid(job_id: int) -> str:
    """The message's `jobId`: a stable UUID, deliberately not the REST job id."""
    return str(uuid.uuid5(_JOB_NAMESPACE, str(job_id)))


def entry(
    kind: str, request: RunnerRequest, job: Job, run: Run, service_url: str
) -> dict[str, Any]:
    """One `body` entry ([S] JobMessageBase plus the fields of `kind`)."""
    owner, _, name = job.repo.partition("/")
    workflow = "".join(c if c.isalnum() else "-" for c in run.name.lower()) or "ci"
    body: dict[str, Any] = {
        "messageType": kind,
        "runnerRequestId": request.id,
        "repositoryName": name,
        "ownerName": owner,
        "jobId": job_guid(job.id),
        "jobWorkflowRef": (
            f"{job.repo}/.github/workflows/{workflow}.yml@refs/heads/{job.head_branch}"
        ),
        "jobDisplayName": job.spec.name,
        "workflowRunId": job.run_id,
        "eventName": run.event,
        "requestLabels": list(job.spec.labels),
        "queueTime": stamp(request.queue_time),
        "scaleSetAssignTime": stamp(request.assign_time),
        "runnerAssignTime": stamp(request.runner_assign_time),
        "finishTime": stamp(request.finish_time),
    }
    if kind == "JobAvailable":
        scale_set = request.scale_set_id
        body["acquireJobUrl"] = (
            f"{service_url}_apis/runtime/runnerscalesets/{scale_set}/acquirejobs"
        )
    if kind in ("JobStarted", "JobCompleted"):
        body["runnerId"] = request.runner_id
        body["runnerName"] = request.runner_name
    if kind == "JobCompleted":
        body["result"] = request.result
    return body


def statistics(requests: Iterable[RunnerRequest], runners: Iterable[Runner]) -> dict[str, int]:
    """[S] RunnerScaleSetStatistic, derived from the open requests and the scale set's runners.

    totalAssignedJobs counts jobs waiting for a runner and running ones, so it is at least
    totalRunningJobs; idle runners are the registered ones not running a job (the ADR's words).
    """
    states = [r.state for r in requests]
    registered = list(runners)
    busy = sum(1 for r in registered if r.state == "busy")
    return {
        "totalAvailableJobs": states.count("available"),
        "totalAcquiredJobs": states.count("acquired"),
        "totalAssignedJobs": states.count("assigned") + states.count("running"),
        "totalRunningJobs": states.count("running"),
        "totalRegisteredRunners": len(registered),
        "totalBusyRunners": busy,
        "totalIdleRunners": len(registered) - busy,
    }
