"""The environment Nomad gives a task (`client/taskenv/env.go`), as a pure function."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from simulator.nomad.network import AllocatedPort, port_env

_UNSAFE = re.compile(r"[^A-Za-z0-9_.]")
_INTERP = re.compile(r"\$\{([A-Za-z0-9_.\-]+)\}")


def clean_env_var(name: str) -> str:
    """`helper.CleanEnvVar`: characters other than `[A-Za-z0-9_.]` become `_`."""
    return _UNSAFE.sub("_", name)


@dataclass(frozen=True)
class TaskPaths:
    """Where one task of one allocation lives on the node."""

    alloc_dir: str  # <alloc>/alloc, shared by the group's tasks
    task_dir: str  # <alloc>/<task>, the raw_exec working directory
    local_dir: str  # <alloc>/<task>/local, NOMAD_TASK_DIR
    secrets_dir: str  # <alloc>/<task>/secrets

    @classmethod
    def of(cls, alloc_path: str, task_name: str) -> TaskPaths:
        """The directories of task `task_name` in the allocation at `alloc_path`."""
        task_dir = os.path.join(alloc_path, task_name)
        return cls(
            alloc_dir=os.path.join(alloc_path, "alloc"),
            task_dir=task_dir,
            local_dir=os.path.join(task_dir, "local"),
            secrets_dir=os.path.join(task_dir, "secrets"),
        )


def merged_meta(
    job: Mapping[str, Any], group: Mapping[str, Any], task: Mapping[str, Any]
) -> dict[str, str]:
    """Job, group and task meta combined (task wins); unset `meta_optional` keys as ''."""
    meta: dict[str, str] = {}
    pj = job.get("ParameterizedJob")
    if job.get("Dispatched") and pj:
        meta.update({k: "" for k in pj.get("MetaOptional") or []})
    for source in (job.get("Meta"), group.get("Meta"), task.get("Meta")):
        meta.update(source or {})
    return meta


def task_env(
    *,
    job: Mapping[str, Any],
    group: Mapping[str, Any],
    task: Mapping[str, Any],
    alloc_id: str,
    alloc_index: int,
    paths: TaskPaths,
    node: Mapping[str, Any],
    base: Mapping[str, str],
    ports: Iterable[AllocatedPort] = (),
) -> dict[str, str]:
    """`base` (the agent's own environment, as raw_exec inherits it) plus Nomad's variables."""
    env = dict(base)
    resources = task.get("Resources") or {}
    nomad = {
        "NOMAD_ALLOC_DIR": paths.alloc_dir,
        "NOMAD_TASK_DIR": paths.local_dir,
        "NOMAD_SECRETS_DIR": paths.secrets_dir,
        "NOMAD_ALLOC_ID": alloc_id,
        "NOMAD_SHORT_ALLOC_ID": alloc_id[:8],
        "NOMAD_ALLOC_NAME": f"{job['ID']}.{group['Name']}[{alloc_index}]",
        "NOMAD_ALLOC_INDEX": str(alloc_index),
        "NOMAD_GROUP_NAME": str(group["Name"]),
        "NOMAD_TASK_NAME": str(task["Name"]),
        "NOMAD_JOB_ID": str(job["ID"]),
        "NOMAD_JOB_NAME": str(job["Name"]),
        "NOMAD_JOB_PARENT_ID": str(job.get("ParentID") or ""),
        "NOMAD_NAMESPACE": str(job["Namespace"]),
        "NOMAD_REGION": str(job.get("Region") or "global"),
        "NOMAD_DC": str(node["Datacenter"]),
        "NOMAD_NODE_ID": str(node["ID"]),
        "NOMAD_NODE_NAME": str(node["Name"]),
        "NOMAD_CPU_LIMIT": str(resources.get("CPU", 0)),
        "NOMAD_MEMORY_LIMIT": str(resources.get("MemoryMB", 0)),
    }
    env.update(nomad)
    env.update(port_env(ports))
    # env.go ~L785-808: each meta key twice, as written and upper-cased, then cleaned.
    for key, value in merged_meta(job, group, task).items():
        env[clean_env_var(f"NOMAD_META_{key}")] = value
        env[clean_env_var(f"NOMAD_META_{key.upper()}")] = value
    scope = {**env, **node_attributes(node)}
    for key, value in (task.get("Env") or {}).items():
        env[clean_env_var(key)] = interpolate(str(value), scope)
    return env


def node_attributes(node: Mapping[str, Any]) -> dict[str, str]:
    """The `${attr.*}` and `${node.*}` names a task's env and config may use, for this node."""
    # https://developer.hashicorp.com/nomad/docs/runtime/interpolation#node-attributes
    return {
        "attr.unique.network.ip-address": str(node["Address"]),
        "attr.unique.hostname": str(node["Name"]),
        "node.unique.id": str(node["ID"]),
        "node.unique.name": str(node["Name"]),
        "node.datacenter": str(node["Datacenter"]),
        "node.class": str(node.get("NodeClass") or ""),
        "node.pool": str(node.get("NodePool") or "default"),
        "node.region": "global",
    }


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Runtime `${NOMAD_...}` / `${env}` / `${attr.*}` interpolation; unknown names stay as is."""
    return _INTERP.sub(lambda m: env.get(m.group(1), m.group(0)), text)


def interpolate_config(config: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """Interpolate the strings (and string lists, e.g. `args`) of a task's driver config."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, str):
            out[key] = interpolate(value, env)
        elif isinstance(value, list):
            out[key] = [interpolate(v, env) if isinstance(v, str) else v for v in value]
        else:
            out[key] = value
    return out
