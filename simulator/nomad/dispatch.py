"""Pure rules of `Job.Dispatch` (nomad/job_endpoint.go): validation and the child job's shape."""

from __future__ import annotations

import base64
import copy
import uuid
from collections.abc import Mapping
from typing import Any

from simulator.nomad.errors import ServerError
from simulator.nomad.jobspec import go_list

DISPATCH_PAYLOAD_SIZE_LIMIT = 16 * 1024  # nomad/job_endpoint.go L32-34, decoded bytes


def validate_dispatch(
    parent: Mapping[str, Any], payload: bytes | None, meta: Mapping[str, str], priority: int
) -> None:
    """`validateDispatchRequest` (job_endpoint.go L2132), in its order, messages verbatim."""
    pj = parent["ParameterizedJob"]
    size = len(payload or b"")
    if pj["Payload"] == "required" and size == 0:
        raise ServerError("Payload is not provided but required by parameterized job")
    if pj["Payload"] == "forbidden" and size > 0:
        raise ServerError("Payload provided but forbidden by parameterized job")
    if size > DISPATCH_PAYLOAD_SIZE_LIMIT:
        raise ServerError(f"Payload exceeds maximum size; {size} > {DISPATCH_PAYLOAD_SIZE_LIMIT}")
    allowed = set(pj["MetaRequired"]) | set(pj["MetaOptional"])
    unpermitted = [k for k in meta if k not in allowed]
    if unpermitted:
        raise ServerError(
            f"Dispatch request included unpermitted metadata keys: {go_list(unpermitted)}"
        )
    missing = [k for k in pj["MetaRequired"] if k not in meta]
    if missing:
        raise ServerError(f"Dispatch did not provide required meta keys: {go_list(missing)}")
    if priority and not 1 <= priority <= 100:  # 1.10.1+, job_max_priority default 100
        raise ServerError("dispatch job priority must be between [1, 100]")


def dispatched_id(parent_id: str, prefix: str, now: float) -> str:
    """`structs.DispatchedID` (structs.go L6120): `<parent>/dispatch-[<prefix>-]<unix>-<8 hex>`."""
    infix = f"{prefix}-" if prefix else ""
    return f"{parent_id}/dispatch-{infix}{int(now)}-{uuid.uuid4().hex[:8]}"


def dispatched_child(
    parent: Mapping[str, Any],
    *,
    payload: bytes | None,
    meta: Mapping[str, str],
    id_prefix_template: str,
    idempotency_token: str,
    priority: int,
    now: float,
    index: int,
) -> dict[str, Any]:
    """A copy of the parent (ParameterizedJob kept, Dispatched=true) with meta merged in."""
    child = copy.deepcopy(dict(parent))
    child_id = dispatched_id(parent["ID"], id_prefix_template, now)
    child.update(
        ID=child_id,
        Name=child_id,
        ParentID=parent["ID"],
        Dispatched=True,
        DispatchIdempotencyToken=idempotency_token,
        Payload=base64.b64encode(payload).decode() if payload else None,
        Meta={**parent["Meta"], **meta},
        Priority=priority or parent["Priority"],
        Status="pending",
        StatusDescription="",
        Stop=False,
        Version=0,
        CreateIndex=index,
        ModifyIndex=index,
        JobModifyIndex=index,
        SubmitTime=int(now * 1e9),
    )
    return child
