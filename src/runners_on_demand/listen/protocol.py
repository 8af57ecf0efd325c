"""The runner scale set service's documents: bytes in, typed values (or a ServiceError) out. Pure.

Shapes follow [S] types.go (actions/scaleset); see ../shared/reference/scaleset-api.md §2-3. A
message's `body` is a JSON array *encoded as a string*; every answer may start with a UTF-8 BOM,
which [S] sendRequest strips; a 2xx without a body is transient (ARC #4285). A message without
`statistics` is refused, as [S] listener.go parseMessage refuses it ("invalid message: statistics
is nil") before acknowledging it: read as zeros, it would retire every idle runner.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt

from runners_on_demand.listen.errors import EmptyAnswer, ServiceError, service_error

__all__ = [
    "API_VERSION",
    "JobEntry",
    "Message",
    "ScaleSetInfo",
    "Session",
    "Statistics",
    "decode",
    "desired_runners",
    "error_of",
    "message_of",
    "scale_set_of",
    "session_of",
    "token_expiry",
]

API_VERSION = "6.0-preview"
MESSAGE_TYPE = "RunnerScaleSetJobMessages"  # [S] rejects every other messageType
BOM = b"\xef\xbb\xbf"


class _Shape(ValueError):
    """A document that is JSON but not the shape the service promises."""


@dataclass(frozen=True)
class Statistics:
    """[S] RunnerScaleSetStatistic: what the service counts for one scale set."""

    available: int = 0
    acquired: int = 0
    assigned: int = 0  # waiting for a runner, plus running
    running: int = 0
    registered: int = 0
    busy: int = 0
    idle: int = 0

    @classmethod
    def of(cls, data: Any) -> Statistics:
        """From `{"totalAvailableJobs": ...}`; absent counts are 0 (Go's zero values)."""
        if not isinstance(data, Mapping):
            raise _Shape("statistics is missing")
        keys = ("Available", "Acquired", "Assigned", "Running")
        jobs = [_int(data.get(f"total{key}Jobs")) for key in keys]
        runners = [_int(data.get(f"total{key}Runners")) for key in ("Registered", "Busy", "Idle")]
        return cls(*jobs, *runners)


@dataclass(frozen=True)
class ScaleSetInfo:
    """[S] RunnerScaleSet, the parts the listener reads."""

    id: int
    name: str
    group_id: int
    labels: tuple[str, ...]


@dataclass(frozen=True)
class Session:
    """[S] RunnerScaleSetSession: one listener's hold on its scale set's message queue."""

    id: str
    scale_set_id: int
    queue_url: str
    queue_token: str = field(repr=False)
    statistics: Statistics | None  # None: the service sent none ([S] Run refuses the session)


@dataclass(frozen=True)
class JobEntry:
    """One entry of a message's body ([S] JobMessageBase plus its type's fields)."""

    kind: str  # JobAvailable | JobAssigned | JobStarted | JobCompleted (others are ignored)
    request_id: int  # runnerRequestId
    owner: str
    repo: str
    job_id: str  # the service's own id, not the REST job id
    run_id: int
    display_name: str
    labels: tuple[str, ...]
    runner_name: str = ""
    result: str = ""


@dataclass(frozen=True)
class Message:
    """A 200 of the message queue: its id, the statistics of that moment, its entries."""

    id: int
    statistics: Statistics
    entries: tuple[JobEntry, ...]


def decode(raw: bytes, where: str, status: int = 200) -> Any:
    """An answer's JSON without its BOM; EmptyAnswer for no body, ServiceError if not JSON."""
    if raw.startswith(BOM):
        raw = raw[len(BOM) :]
    if not raw.strip():
        raise EmptyAnswer(f"{where}: {status} with an empty body", status=status)
    try:
        return json.loads(raw)
    except ValueError:
        raise ServiceError(f"{where}: {status} answer is not JSON", status=status) from None


def error_of(where: str, status: int, raw: bytes, retry_after: str | None) -> ServiceError:
    """An error answer: `{"typeName", "message"}` JSON, or plain text ([S] errors.go)."""
    text = raw.removeprefix(BOM).decode("utf-8", "replace")
    type_name, message = "", " ".join(text.split())[:300]
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, Mapping):
        type_name = str(data.get("typeName") or "")
        message = " ".join(str(data.get("message") or "").split())[:300]
    wait = None
    if retry_after is not None and retry_after.strip().isdigit():
        wait = float(retry_after)  # go-retryablehttp reads an integer Retry-After only
    return service_error(where, status, type_name, message, wait)


def scale_set_of(data: Any, where: str) -> ScaleSetInfo:
    """A RunnerScaleSet document."""
    try:
        labels = tuple(str(label["name"]) for label in data.get("labels") or ())
        return ScaleSetInfo(int(data["id"]), str(data["name"]), int(data["runnerGroupId"]), labels)
    except (KeyError, TypeError, ValueError, AttributeError):
        raise ServiceError(f"{where}: not a runner scale set", status=200) from None


def session_of(data: Any, where: str) -> Session:
    """A RunnerScaleSetSession document."""
    try:
        session = Session(
            id=str(data["sessionId"]),
            scale_set_id=int(data["runnerScaleSet"]["id"]),
            queue_url=str(data["messageQueueUrl"]),
            queue_token=str(data["messageQueueAccessToken"]),
            statistics=_statistics(data.get("statistics")),
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        raise ServiceError(f"{where}: not a message session", status=200) from None
    if not (session.id and session.queue_url and session.queue_token):
        raise ServiceError(f"{where}: the session lacks its queue", status=200)
    return session


def message_of(data: Any, where: str) -> Message:
    """A message: statistics, then `body` decoded twice (a string holding a JSON array)."""
    try:
        if data.get("messageType") != MESSAGE_TYPE:
            raise _Shape(f"unsupported messageType {data.get('messageType')!r}")
        body = data.get("body") or "[]"
        items = json.loads(body) if isinstance(body, str) else body
        if not isinstance(items, list):
            raise _Shape("body is not a JSON array")
        entries = tuple(_entry(item) for item in items if isinstance(item, Mapping))
        return Message(int(data["messageId"]), Statistics.of(data.get("statistics")), entries)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        reason = str(error) if isinstance(error, _Shape) else "not a scale set message"
        raise ServiceError(f"{where}: {reason}", status=200) from None


def _statistics(data: Any) -> Statistics | None:
    """A session's statistics; None when absent (refreshing a session does not read them)."""
    return None if data is None else Statistics.of(data)


def _entry(item: Mapping[str, Any]) -> JobEntry:
    labels = item.get("requestLabels") or ()
    return JobEntry(
        kind=str(item.get("messageType") or ""),
        request_id=int(item["runnerRequestId"]),
        owner=str(item.get("ownerName") or ""),
        repo=str(item.get("repositoryName") or ""),
        job_id=str(item.get("jobId") or ""),
        run_id=_int(item.get("workflowRunId")),
        display_name=str(item.get("jobDisplayName") or ""),
        labels=tuple(str(label) for label in labels),
        runner_name=str(item.get("runnerName") or ""),
        result=str(item.get("result") or ""),
    )


def token_expiry(token: str) -> float:
    """The admin token's `exp`, read without checking its signature ([S] updateTokenIfNeeded)."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
        return float(claims["exp"])
    except (jwt.PyJWTError, KeyError, TypeError, ValueError):
        return math.inf  # unreadable: only a 401 will tell it expired


def desired_runners(statistics: Statistics, min_runners: int, max_runners: int) -> int:
    """min(min + totalAssignedJobs, max): level-triggered ([S] README, ARC scaler.go)."""
    return max(0, min(min_runners + statistics.assigned, max_runners))


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
