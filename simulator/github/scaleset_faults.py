"""Fault switches of the emulated Actions service (set through `/_sim/scalesets/faults`).

Each switch names an operation of ScaleSetBackend (or `*`) and how many calls it spoils, in the
order switches were added. The failures are the ones listeners meet in the field
(../shared/reference/scaleset-api.md §4): a 401 on the queue token (ARC #4356), 429 with
`Retry-After` and 5xx (retried by go-retryablehttp), a UTF-8 BOM before the JSON (stripped by
[S] sendRequest), a 200 with an empty body (ARC #4285: the listener crashed on EOF). The two
switches that change state rather than answers, a crashed listener's stale session and GitHub's
reassignment, are backend operations (scaleset_models.py, scaleset_jobs.py).
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from simulator.github.scaleset_errors import Unauthorized

OPERATIONS = (
    "runner_registration",
    "get_runner_groups",
    "list_runner_scale_sets",
    "get_runner_scale_set",
    "create_runner_scale_set",
    "update_runner_scale_set",
    "delete_runner_scale_set",
    "create_message_session",
    "refresh_message_session",
    "delete_message_session",
    "get_message",
    "delete_message",
    "acquire_jobs",
    "generate_jit_runner_config",
    "get_runner",
    "remove_runner",
)
MODES = ("unauthorized", "throttled", "server_error", "bom", "empty")
BOM = "\ufeff".encode()


@dataclass
class ServiceFault:
    """The next `count` calls of `operation` answer as `mode` says."""

    mode: str
    operation: str = "*"
    count: int = 1
    status: int = 0  # server_error: 500 unless given (5xx)
    retry_after: int | None = None  # throttled: 1 unless given; server_error: none unless given

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        if self.operation != "*" and self.operation not in OPERATIONS:
            raise ValueError(f"unknown operation {self.operation!r}")
        if self.count < 1:
            raise ValueError("count must be at least 1")
        if self.mode == "server_error":
            self.status = self.status or 500
            if not 500 <= self.status <= 599:
                raise ValueError("a server_error status is 5xx")
        if self.mode == "throttled" and self.retry_after is None:
            self.retry_after = 1

    def response(self) -> Response:
        """The answer that replaces the real one (not for `bom`, which alters the real one)."""
        headers = {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}
        if self.mode == "unauthorized":
            error = Unauthorized()
            return JSONResponse(error.body(), error.status)
        if self.mode == "throttled":
            return PlainTextResponse("Too Many Requests", 429, headers=headers)
        if self.mode == "server_error":
            return PlainTextResponse("Internal Server Error", self.status, headers=headers)
        return Response(b"", 200, media_type="application/json")  # empty


class FaultSwitches:
    """Pending service faults, used in the order they were added."""

    def __init__(self) -> None:
        self._faults: list[ServiceFault] = []
        self._lock = threading.Lock()

    def add(self, fault: ServiceFault) -> None:
        """Queue a fault."""
        with self._lock:
            self._faults.append(fault)

    def take(self, operation: str, *, bom: bool) -> ServiceFault | None:
        """Use one call of the first pending fault for `operation` (BOM ones, or the others)."""
        with self._lock:
            for fault in self._faults:
                if fault.operation in ("*", operation) and (fault.mode == "bom") == bom:
                    fault.count -= 1
                    if fault.count == 0:
                        self._faults.remove(fault)
                    return fault
            return None

    def pending(self) -> list[ServiceFault]:
        """Faults with calls left."""
        with self._lock:
            return [replace(f) for f in self._faults]


def with_faults(
    operation: str, handler: Callable[[Request], Awaitable[Response]]
) -> Callable[[Request], Awaitable[Response]]:
    """Run `handler` unless a fault answers instead; a BOM fault prefixes a non-empty body."""

    async def run(request: Request) -> Response:
        switches: FaultSwitches = request.app.state.backend.scalesets.faults
        fault = switches.take(operation, bom=False)
        if fault is not None:
            return fault.response()
        response = await handler(request)
        if response.body and switches.take(operation, bom=True) is not None:
            body = BOM + bytes(response.body)
            headers = {k: v for k, v in response.headers.items() if k != "content-length"}
            return Response(body, response.status_code, headers=headers)
        return response

    return run
