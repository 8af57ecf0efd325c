"""A task's prestart hooks, in Nomad's order: dispatch payload, identities, templates.

Run once, before the first start of a task (client/allocrunner/taskrunner/*_hook.go); what they
add to the environment is kept for restarts. A template still missing data blocks the task.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from simulator.nomad.acl import Claim
from simulator.nomad.drivers import DriverError
from simulator.nomad.taskenv import TaskPaths
from simulator.nomad.templates import WorkloadApi, render_templates


@dataclass
class Prestart:
    """Environment the hooks add (template env, identity tokens), or the data still missing."""

    env: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)


def write_payload(
    job: Mapping[str, Any], task: Mapping[str, Any], paths: TaskPaths, alloc_path: str
) -> None:
    """dispatch_payload: the decoded payload lands in local/<file> before the task starts."""
    payload_file = (task.get("DispatchPayload") or {}).get("File")
    if not payload_file or job.get("Payload") is None:
        return
    target = os.path.normpath(os.path.join(paths.local_dir, payload_file))
    if not target.startswith(alloc_path + os.sep):
        raise DriverError(f"dispatch_payload file {payload_file!r} escapes the alloc dir")
    with open(target, "wb") as handle:
        handle.write(base64.b64decode(job["Payload"]))


def identity_env(
    task: Mapping[str, Any], claim: Claim, alloc_id: str, paths: TaskPaths, api: WorkloadApi
) -> dict[str, str]:
    """`identity { env = true / file = true }`: the workload identity as NOMAD_TOKEN or a file."""
    # https://developer.hashicorp.com/nomad/docs/job-specification/identity
    env: dict[str, str] = {}
    for identity in task.get("Identities") or []:
        name = identity.get("Name") or "default"
        if not (identity.get("Env") or identity.get("File")):
            continue
        token = api.token(claim, alloc_id)
        default = name == "default"
        if identity.get("Env"):
            env["NOMAD_TOKEN" if default else f"NOMAD_TOKEN_{name}"] = token
        if identity.get("File"):
            path = os.path.join(
                paths.secrets_dir, "nomad_token" if default else f"nomad_{name}.jwt"
            )
            with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
                out.write(token)
    return env


def prestart(
    *,
    job: Mapping[str, Any],
    task: Mapping[str, Any],
    claim: Claim,
    alloc_id: str,
    alloc_path: str,
    paths: TaskPaths,
    env: Mapping[str, str],
    api: WorkloadApi,
) -> Prestart:
    """Run the hooks; raises DriverError or TemplateFailed when the task cannot start."""
    write_payload(job, task, paths, alloc_path)
    added = identity_env(task, claim, alloc_id, paths, api)
    templates = task.get("Templates") or []
    if not templates:
        return Prestart(env=added)
    rendered = render_templates(
        templates,
        env={**env, **added},
        task_dir=paths.task_dir,
        alloc_dir=paths.alloc_dir,
        claim=claim,
        source=api,
    )
    if rendered.missing:
        return Prestart(missing=rendered.missing)
    return Prestart(env={**added, **rendered.env})
