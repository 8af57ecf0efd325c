"""Stored objects of the emulated Nomad (jobs, allocations), their lifecycles and JSON shapes."""

from __future__ import annotations

import copy
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from simulator.lifecycle import lifecycle
from simulator.nomad.drivers import TaskHandle
from simulator.nomad.jobspec import is_parameterized, is_periodic
from simulator.nomad.network import AllocatedPort

# Allocation ClientStatus (`nomad/structs/alloc.go` L29-43); complete/failed/lost are terminal.
ALLOCATION = lifecycle(
    "allocation",
    {
        "pending": ("running", "complete", "failed"),
        "running": ("pending", "complete", "failed"),  # pending: a task waits to restart
        "complete": (),
        "failed": (),
    },
)
# TaskState.State: pending -> running -> dead; a restart goes back to pending.
TASK = lifecycle(
    "task", {"pending": ("running", "dead"), "running": ("pending", "dead"), "dead": ()}
)
SUMMARY_KEYS = ("Queued", "Complete", "Failed", "Running", "Starting", "Lost", "Unknown")


@dataclass
class JobRecord:
    """A job as stored: its JSON plus bookkeeping the server keeps beside it."""

    job: dict[str, Any]
    queued: dict[str, int] = field(default_factory=dict)  # blocked placements per group
    children_dead_removed: int = 0  # GC'd/purged children: Children.Dead never decrements
    summary_seen: dict[str, Any] | None = None  # the counts last read, and the index they
    summary_index: int = 0  # were first seen at: the summary's ModifyIndex (reads.py)

    @property
    def key(self) -> tuple[str, str]:
        """(namespace, ID)."""
        return (self.job["Namespace"], self.job["ID"])

    @property
    def is_parent(self) -> bool:
        """Parameterized or periodic: never scheduled itself."""
        return is_parameterized(self.job) or is_periodic(self.job)


def task_event(kind: str, message: str = "", **extra: Any) -> dict[str, Any]:
    """`structs.TaskEvent` with the fields callers read."""
    event = {"Type": kind, "Time": time.time_ns(), "DisplayMessage": message, "Message": message}
    event.update({"ExitCode": 0, "Signal": 0, "FailsTask": False, "Details": {}})
    event.update(extra)
    return event


def node_json(cpu: int, memory: int) -> dict[str, Any]:
    """The one client node: raw_exec and docker fingerprinted healthy."""
    return {
        "ID": str(uuid.uuid4()),
        "Name": "rod-sim-node",
        "Datacenter": "dc1",
        "NodePool": "default",
        "NodeClass": "",
        "Address": "127.0.0.1",
        "Version": "1.10.5",
        "Drain": False,
        "SchedulingEligibility": "eligible",
        "Status": "ready",
        "StatusDescription": "",
        "Drivers": {
            name: {"Detected": True, "Healthy": True, "HealthDescription": "Healthy"}
            for name in ("raw_exec", "docker")
        },
        "NodeResources": {"Cpu": {"CpuShares": cpu}, "Memory": {"MemoryMB": memory}},
        "CreateIndex": 1,
        "ModifyIndex": 1,
    }


@dataclass
class TaskRun:
    """One task of an allocation: its Nomad TaskState and the driver's handle."""

    name: str
    state: str = "pending"
    failed: bool = False
    restarts: int = 0
    started_at: int | None = None
    finished_at: int | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    handle: TaskHandle | None = None
    hook_env: dict[str, str] | None = None  # what prestart hooks added; None until they ran

    def move(self, new: str) -> None:
        """Change state through the TASK table."""
        self.state = TASK.check(self.state, new)

    def to_json(self) -> dict[str, Any]:
        """`structs.TaskState`."""
        return {
            "State": self.state,
            "Failed": self.failed,
            "Restarts": self.restarts,
            "StartedAt": self.started_at,
            "FinishedAt": self.finished_at,
            "Events": copy.deepcopy(self.events),
        }


@dataclass
class Allocation:
    """One placed instance of a task group on the node."""

    id: str
    eval_id: str
    namespace: str
    job_id: str
    job: dict[str, Any]
    group: str
    index: int
    node_id: str
    node_name: str
    path: str
    create_index: int
    create_time: int
    cpu: int
    memory: int
    tasks: dict[str, TaskRun]
    desired_status: str = "run"
    client_status: str = "pending"
    modify_index: int = 0
    modify_time: int = 0
    ports: tuple[AllocatedPort, ...] = ()  # the group network's ports on the node

    def move(self, new: str) -> None:
        """Change ClientStatus through the ALLOCATION table."""
        self.client_status = ALLOCATION.check(self.client_status, new)

    @property
    def client_terminal(self) -> bool:
        """`ClientTerminalStatus`: complete, failed (or lost). Resources, ports, the workload
        identity and GC go by it (structs.AllocsFit skips only these)."""
        return ALLOCATION.is_terminal(self.client_status)

    @property
    def terminal_status(self) -> bool:
        """`TerminalStatus` (nomad/structs/alloc.go): `ServerTerminalStatus` (desired stop or
        evict) or `ClientTerminalStatus`. The job's status goes by it."""
        return self.desired_status in ("stop", "evict") or self.client_terminal

    def stub(self) -> dict[str, Any]:
        """`structs.AllocListStub`."""
        return {
            "ID": self.id,
            "EvalID": self.eval_id,
            "Name": f"{self.job_id}.{self.group}[{self.index}]",
            "Namespace": self.namespace,
            "NodeID": self.node_id,
            "NodeName": self.node_name,
            "JobID": self.job_id,
            "JobType": self.job["Type"],
            "JobVersion": self.job.get("Version", 0),
            "TaskGroup": self.group,
            "DesiredStatus": self.desired_status,
            "DesiredDescription": "alloc not needed due to job update"
            if self.desired_status == "stop"
            else "",
            "ClientStatus": self.client_status,
            "ClientDescription": _CLIENT_DESCRIPTION.get(self.client_status, ""),
            "TaskStates": {name: run.to_json() for name, run in self.tasks.items()},
            "FollowupEvalID": "",
            "NextAllocation": "",
            "RescheduleTracker": None,
            "CreateIndex": self.create_index,
            "ModifyIndex": self.modify_index,
            "AllocModifyIndex": self.modify_index,
            "CreateTime": self.create_time,
            "ModifyTime": self.modify_time,
        }


_CLIENT_DESCRIPTION = {
    "pending": "No tasks have started",
    "running": "Tasks are running",
    "complete": "All tasks have completed",
    "failed": "Failed tasks",
}


def client_status(tasks: Iterable[TaskRun]) -> str:
    """The client's `getClientStatus`: all dead -> complete/failed, else running or pending."""
    runs = list(tasks)
    if all(run.state == "dead" for run in runs):
        return "failed" if any(run.failed for run in runs) else "complete"
    return "running" if any(run.state == "running" for run in runs) else "pending"


def job_status(record: JobRecord, allocs: list[Allocation]) -> str:
    """`getJobStatus` (state_store.go L5585) for the cases this emulator has: a job whose
    allocations are all desired-stop is dead while its tasks still shut down."""
    job = record.job
    if record.is_parent or job["Type"] == "system":
        return "dead" if job["Stop"] else "running"
    if any(not a.terminal_status for a in allocs):
        return "running"
    if not job["Stop"] and any(record.queued.values()):
        return "pending"
    return "dead"


def group_summary(record: JobRecord, allocs: list[Allocation]) -> dict[str, dict[str, int]]:
    """`JobSummary.Summary`: per task group counts by client status, plus blocked placements."""
    out = {g["Name"]: dict.fromkeys(SUMMARY_KEYS, 0) for g in record.job["TaskGroups"]}
    column = {"pending": "Starting", "running": "Running", "complete": "Complete"}
    column["failed"] = "Failed"
    for alloc in allocs:
        counts = out.setdefault(alloc.group, dict.fromkeys(SUMMARY_KEYS, 0))
        counts[column[alloc.client_status]] += 1
    for group, queued in record.queued.items():
        out.setdefault(group, dict.fromkeys(SUMMARY_KEYS, 0))["Queued"] = queued
    return out


def job_stub(job: dict[str, Any], summary: dict[str, Any], *, with_meta: bool) -> dict[str, Any]:
    """`structs.JobListStub` (structs.go L5294): `ParameterizedJob` is a bool here."""
    stub = {
        "ID": job["ID"],
        "ParentID": job["ParentID"],
        "Name": job["Name"],
        "Namespace": job["Namespace"],
        "Datacenters": job["Datacenters"],
        "NodePool": job["NodePool"],
        "Multiregion": None,
        "Type": job["Type"],
        "Priority": job["Priority"],
        "Periodic": is_periodic(job),
        "ParameterizedJob": is_parameterized(job),
        "Stop": job["Stop"],
        "Status": job["Status"],
        "StatusDescription": job.get("StatusDescription", ""),
        "JobSummary": summary,
        "CreateIndex": job["CreateIndex"],
        "ModifyIndex": job["ModifyIndex"],
        "JobModifyIndex": job["JobModifyIndex"],
        "SubmitTime": job["SubmitTime"],
    }
    if with_meta:
        stub["Meta"] = dict(job["Meta"])
    return stub
