"""Pure helpers on Nomad's JSON Job: durations, defaults (`Canonicalize`) and validation."""

from __future__ import annotations

import copy
import posixpath
import re
from typing import Any

_UNITS_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9}
_UNITS_NS["h"] = 3600 * 10**9
_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")

# Batch defaults (`structs.go` DefaultBatchJobRestartPolicy / reschedule, ~L6206-6230).
BATCH_RESTART = {"Attempts": 3, "Interval": 24 * 3600 * 10**9, "Delay": 15 * 10**9, "Mode": "fail"}
SERVICE_RESTART = {"Attempts": 2, "Interval": 30 * 60 * 10**9, "Delay": 15 * 10**9, "Mode": "fail"}
BATCH_RESCHEDULE = {
    "Attempts": 1,
    "Interval": 24 * 3600 * 10**9,
    "Delay": 5 * 10**9,
    "DelayFunction": "constant",
    "MaxDelay": 0,
    "Unlimited": False,
}
DEFAULT_KILL_TIMEOUT_NS = 5 * 10**9  # structs.DefaultKillTimeout
DEFAULT_RESOURCES = {"CPU": 100, "MemoryMB": 300}  # structs.DefaultResources
PAYLOAD_MODES = ("optional", "required", "forbidden")
# api.Template.Canonicalize (api/tasks.go L965)
TEMPLATE_DEFAULTS = {
    "SourcePath": "",
    "DestPath": "",
    "EmbeddedTmpl": "",
    "ChangeMode": "restart",
    "ChangeSignal": "",
    "Once": False,
    "Splay": 5 * 10**9,
    "Perms": "0644",
    "Uid": None,
    "Gid": None,
    "LeftDelim": "{{",
    "RightDelim": "}}",
    "Envvars": False,
    "ErrMissingKey": False,
    "VaultGrace": 0,
}
CHANGE_MODES = ("noop", "restart", "signal", "script")


def duration_ns(value: Any) -> int:
    """A Go duration string (`30s`, `1h30m`) or a number of nanoseconds -> nanoseconds."""
    if isinstance(value, bool):
        raise ValueError(f"invalid duration {value!r}")
    if isinstance(value, int | float):
        return int(value)
    text = str(value).strip()
    parts = _PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f'time: invalid duration "{text}"')
    return int(sum(float(n) * _UNITS_NS[u] for n, u in parts))


def go_list(items: list[str]) -> str:
    """A string slice as Go's `%v` prints it: `[a b c]`."""
    return "[" + " ".join(items) + "]"


def is_parameterized(job: dict[str, Any]) -> bool:
    """`Job.IsParameterized`: a ParameterizedJob block on a job that is not itself dispatched."""
    return job.get("ParameterizedJob") is not None and not job.get("Dispatched")


def is_periodic(job: dict[str, Any]) -> bool:
    """`Job.IsPeriodic`."""
    return job.get("Periodic") is not None


def canonicalize(job: dict[str, Any], namespace: str) -> dict[str, Any]:
    """A copy of `job` with the defaults the server fills in (`api.Job.Canonicalize`)."""
    job = copy.deepcopy(job)
    job.setdefault("Name", job["ID"])
    job["Namespace"] = job.get("Namespace") or namespace
    job_type = job.get("Type") or "service"
    job["Type"] = job_type
    for key, default in (
        ("Region", "global"),
        ("NodePool", "default"),
        ("Priority", 50),
        ("Datacenters", ["*"]),
        ("ParentID", ""),
        ("Dispatched", False),
        ("DispatchIdempotencyToken", ""),
        ("Payload", None),
        ("Periodic", None),
        ("ParameterizedJob", None),
        ("Stop", False),
        ("AllAtOnce", False),
    ):
        if job.get(key) is None:
            job[key] = copy.deepcopy(default)
    job["Meta"] = dict(job.get("Meta") or {})
    if job["ParameterizedJob"] is not None:
        pj = job["ParameterizedJob"]
        pj["Payload"] = pj.get("Payload") or "optional"
        pj["MetaRequired"] = list(pj.get("MetaRequired") or [])
        pj["MetaOptional"] = list(pj.get("MetaOptional") or [])
    batch = job_type in ("batch", "sysbatch")
    for group in job.setdefault("TaskGroups", []) or []:
        group["Count"] = 1 if group.get("Count") is None else group["Count"]
        group["Meta"] = dict(group.get("Meta") or {})
        group["RestartPolicy"] = {
            **(BATCH_RESTART if batch else SERVICE_RESTART),
            **(group.get("RestartPolicy") or {}),
        }
        if batch:
            group["ReschedulePolicy"] = {
                **BATCH_RESCHEDULE,
                **(group.get("ReschedulePolicy") or {}),
            }
        for task in group.setdefault("Tasks", []) or []:
            task["Config"] = dict(task.get("Config") or {})
            task["Env"] = dict(task.get("Env") or {})
            task["Meta"] = dict(task.get("Meta") or {})
            task["KillTimeout"] = task.get("KillTimeout") or DEFAULT_KILL_TIMEOUT_NS
            task["Resources"] = {**DEFAULT_RESOURCES, **(task.get("Resources") or {})}
            task.setdefault("DispatchPayload", None)
            task["Templates"] = [
                {**TEMPLATE_DEFAULTS, **template} for template in task.get("Templates") or []
            ]
            task["RestartPolicy"] = {**group["RestartPolicy"], **(task.get("RestartPolicy") or {})}
    return job


def validate(job: dict[str, Any]) -> list[str]:
    """Server-side `Job.Validate` messages, for the checks this emulator makes (structs.go)."""
    errors: list[str] = []
    if job["Type"] not in ("service", "batch", "system", "sysbatch"):
        errors.append(f'Invalid job type: "{job["Type"]}"')
    if not job["TaskGroups"]:
        errors.append("Missing job task groups")
    pj = job["ParameterizedJob"]
    if pj is not None and not job["Dispatched"]:
        if job["Type"] not in ("batch", "sysbatch"):
            errors.append('Parameterized job can only be used with "batch" or "sysbatch" scheduler')
        if pj["Payload"] not in PAYLOAD_MODES:
            errors.append(f'Unknown payload requirement: "{pj["Payload"]}"')
        both = sorted(set(pj["MetaRequired"]) & set(pj["MetaOptional"]))
        if both:
            errors.append(
                "Required and optional meta keys should be disjoint. "
                f"Following keys exist in both: {go_list(both)}"
            )
    for group in job["TaskGroups"]:
        if not group.get("Name"):
            errors.append("Missing task group name")
        if not group["Tasks"]:
            errors.append(f'Task group "{group.get("Name")}" has no tasks')
        for task in group["Tasks"]:
            if not task.get("Name"):
                errors.append("Missing task name")
            if not task.get("Driver"):
                errors.append(f'Task "{task.get("Name")}" is missing a driver')
            for number, template in enumerate(task.get("Templates") or [], start=1):
                errors.extend(
                    f"Template {number} validation failed: {message}"
                    for message in _template_errors(template)
                )
    return errors


def _template_errors(template: dict[str, Any]) -> list[str]:
    """`structs.Template.Validate` (structs.go L8933), for the fields the emulator knows."""
    errors = []
    if not template.get("SourcePath") and not template.get("EmbeddedTmpl"):
        errors.append("Must specify a source path or have an embedded template")
    destination = str(template.get("DestPath") or "")
    if not destination:
        errors.append("Must specify a destination for the template")
    elif posixpath.normpath(posixpath.join("alloc/task", destination)).startswith(".."):
        errors.append("destination escapes allocation directory")
    mode = template.get("ChangeMode")
    if mode not in CHANGE_MODES:
        errors.append(
            "Invalid change mode. Must be one of the following: noop, restart, signal, script"
        )
    if mode == "signal" and template.get("Envvars"):
        errors.append("cannot use signals with env var templates")
    return errors
