"""Shared test-only control plane: a request log per route and injected faults, as ASGI middleware.

Both emulators mount these under `/_sim/`; the service-specific parts (reset, state, clock) live
with each emulator. Faults match on method and a glob of the path, e.g. `POST /v1/job/*/dispatch`.
The log keeps who called (User-Agent) and when each request began and ended; control-plane
requests that change something (not GETs) are logged too, flagged `control`, and listed only on
`GET /_sim/requests?control=true`, so the living documentation can show what the harness did.
"""

from __future__ import annotations

import asyncio
import fnmatch
import random
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

CONTROL_PREFIX = "/_sim/"


@dataclass
class RecordedRequest:
    """One request the emulator answered; `at` is when it ended, `started` when it began."""

    method: str
    path: str
    query: str
    status: int
    at: float
    started: float = 0.0
    user_agent: str = ""
    control: bool = False  # a `/_sim/` request, made by a test harness


@dataclass
class Fault:
    """The next `count` requests matching `method` and `path` (a glob) fail or hang.

    With `probability` below 1, each matching request fails only with that chance (a flaky
    service); the requests it spares do not use up `count`. With `passthrough`, the request
    reaches the emulator, so its effect is committed, and only its real answer is held back for
    `hang_seconds` (`status` and `body` are unused): a server that did the work but answered after
    the client's timeout, as a proxy holding the answer or a paused Nomad leader does.
    """

    method: str
    path: str
    count: int = 1
    status: int = 500
    body: str = "injected fault"
    content_type: str = "text/plain; charset=utf-8"
    hang_seconds: float = 0.0
    probability: float = 1.0
    passthrough: bool = False

    def __post_init__(self) -> None:
        if not 0.0 < self.probability <= 1.0:
            raise ValueError("probability must be above 0 and at most 1")

    def matches(self, method: str, path: str) -> bool:
        """True when this fault applies to the request."""
        return (
            self.count > 0 and self.method in ("*", method) and fnmatch.fnmatchcase(path, self.path)
        )


@dataclass
class ControlPlane:
    """Request log and pending faults of one emulator instance."""

    requests: list[RecordedRequest] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    _random: random.Random = field(default_factory=random.Random, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, request: RecordedRequest) -> None:
        """Append a request to the log."""
        with self._lock:
            self.requests.append(request)

    def inject(self, fault: Fault) -> None:
        """Queue a fault; faults are used in the order they were injected."""
        with self._lock:
            self.faults.append(fault)

    def take_fault(self, method: str, path: str) -> Fault | None:
        """Consume one use of the first matching fault that fires (see `Fault.probability`)."""
        with self._lock:
            for fault in self.faults:
                if fault.matches(method, path) and (
                    fault.probability >= 1.0 or self._random.random() < fault.probability
                ):
                    fault.count -= 1
                    return fault
            return None

    def pending(self) -> list[Fault]:
        """Faults with uses left, in the order they will be used."""
        with self._lock:
            return [replace(fault) for fault in self.faults if fault.count > 0]

    def calls(
        self, method: str = "*", path: str = "*", *, control: bool = False
    ) -> list[RecordedRequest]:
        """Logged requests matching a method and a path glob (control-plane ones if asked)."""
        with self._lock:
            return [
                r
                for r in self.requests
                if method in ("*", r.method)
                and fnmatch.fnmatchcase(r.path, path)
                and (control or not r.control)
            ]

    def reset(self) -> None:
        """Forget the log and every pending fault."""
        with self._lock:
            self.requests.clear()
            self.faults.clear()


class ControlMiddleware:
    """Applies injected faults before the app and logs each request after it.

    Control-plane (`/_sim/`) requests never meet a fault; of those only the ones that change
    something (not GETs) are logged, flagged `control`.
    """

    def __init__(self, app: ASGIApp, control: ControlPlane) -> None:
        self.app = app
        self.control = control

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        control = path.startswith(CONTROL_PREFIX)
        if control and method == "GET":
            await self.app(scope, receive, send)
            return
        started, status_seen = time.time(), 0

        async def send_recording(message: Any) -> None:
            nonlocal status_seen
            if message["type"] == "http.response.start":
                status_seen = message["status"]
            await send(message)

        fault = None if control else self.control.take_fault(method, path)
        try:
            if fault is not None and fault.passthrough:
                answer: list[Any] = []

                async def hold(message: Any) -> None:
                    answer.append(message)

                await self.app(scope, receive, hold)  # committed now, answered later
                await asyncio.sleep(fault.hang_seconds)
                for message in answer:
                    await send_recording(message)
            elif fault is not None:
                if fault.hang_seconds:
                    await asyncio.sleep(fault.hang_seconds)
                response = Response(fault.body, fault.status, media_type=fault.content_type)
                await response(scope, receive, send_recording)
            else:
                await self.app(scope, receive, send_recording)
        finally:
            self.control.record(_recorded(scope, status_seen, started, control=control))


def _recorded(
    scope: Scope, status: int, started: float, *, control: bool = False
) -> RecordedRequest:
    """The log entry for one request that has been answered (or failed) just now."""
    headers = dict(scope.get("headers") or [])
    return RecordedRequest(
        method=scope["method"],
        path=scope["path"],
        query=scope.get("query_string", b"").decode("latin-1"),
        status=status,
        at=time.time(),
        started=started,
        user_agent=headers.get(b"user-agent", b"").decode("latin-1"),
        control=control,
    )


def control_routes(control: ControlPlane) -> list[Route]:
    """`GET /_sim/requests?method=&path=&control=`, `GET /_sim/faults` (those with uses left) and
    `POST /_sim/faults` (JSON body: a Fault's fields)."""

    async def list_requests(request: Request) -> Response:
        params = request.query_params
        method, path = params.get("method", "*"), params.get("path", "*")
        with_control = params.get("control", "") in ("1", "true")
        return JSONResponse([asdict(r) for r in control.calls(method, path, control=with_control)])

    async def list_faults(request: Request) -> Response:
        return JSONResponse([asdict(fault) for fault in control.pending()])

    async def add_fault(request: Request) -> Response:
        try:
            fault = Fault(**(await request.json()))
        except (TypeError, ValueError) as exc:
            return JSONResponse({"message": f"bad fault: {exc}"}, status_code=400)
        control.inject(fault)
        return JSONResponse(asdict(fault), status_code=201)

    return [
        Route("/_sim/requests", list_requests, methods=["GET"]),
        Route("/_sim/faults", list_faults, methods=["GET"]),
        Route("/_sim/faults", add_fault, methods=["POST"]),
    ]
