"""GitHub and Nomad stand-ins that answer at once: a raw ASGI app, or an httpx MockTransport.

Both answer what rod's adapters read (generate-jitconfig, registration-token, the credential's
Nomad Variable, Nomad dispatch, the reconciler's listings, /readyz's probes) and note when each
runner reached the Nomad dispatch (`time.monotonic()`, which on Linux is CLOCK_MONOTONIC:
comparable across processes). A gate can
hold every Nomad dispatch until it is opened, so a queue can be filled and then drained alone.
`GET /_bench/dispatches` answers {runner name: [times]}; `POST /_bench/open` opens the gate.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import httpx

Answer = tuple[int, bytes]


class StandIns:
    """The state behind both stand-ins: counters, dispatch times, the gate."""

    def __init__(self, *, gated: bool = False) -> None:
        self.dispatches: dict[str, list[float]] = defaultdict(list)
        self.runners = 0
        self.variables = 0
        self.calls = 0
        self._gate: asyncio.Event | None = None
        self._gated = gated

    def gate(self) -> asyncio.Event:
        """The gate, made on first use inside the serving loop."""
        if self._gate is None:
            self._gate = asyncio.Event()
            if not self._gated:
                self._gate.set()
        return self._gate

    async def answer(self, method: str, path: str, query: str, body: bytes) -> Answer:
        """Status and JSON body for one request."""
        self.calls += 1
        if path.endswith("/actions/runners/generate-jitconfig"):
            self.runners += 1
            try:  # a caller that gave up (timeout) may leave no body behind
                name = json.loads(body).get("name", "")
            except ValueError:
                name = ""
            runner = {"id": self.runners, "name": name}
            return 201, _json({"runner": runner, "encoded_jit_config": "e30="})
        if path.endswith("/actions/runners/registration-token"):
            expires = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
            return 201, _json({"token": "AABENCH", "expires_at": expires})
        if method == "POST" and path.startswith("/v1/job/") and path.endswith("/dispatch"):
            await self.gate().wait()
            name = parse_qs(query).get("idempotency_token", [""])[0]
            self.dispatches[name].append(time.monotonic())
            job = path.split("/")[3]
            found = {"DispatchedJobID": f"{job}/dispatch-{len(self.dispatches)}", "EvalID": "e"}
            return 200, _json(found)
        if method == "GET" and path.startswith("/v1/var/"):  # the reconciler's state: none yet
            return 404, b"variable not found"
        if path.startswith("/v1/var/"):  # the runner's credential Variable: stored, not kept
            self.variables += 1
            stored = {"Path": path.removeprefix("/v1/var/"), "ModifyIndex": self.variables}
            return 200, _json({**stored, "ModifyTime": time.time_ns()})
        if path == "/v1/jobs" and "per_page" in parse_qs(query):  # /readyz: the runner job
            job = parse_qs(query)["prefix"][0]
            return 200, _json([{"ID": job, "Type": "batch", "ParameterizedJob": True}])
        if path in ("/v1/jobs", "/v1/vars"):
            return 200, b"[]"
        if path.startswith("/v1/acl/"):  # a Nomad with ACLs off (command/agent/http.go)
            return 400, b"ACL support disabled"
        if path == "/_bench/dispatches":
            return 200, _json(self.dispatches)
        if path == "/_bench/open":
            self.gate().set()
            return 200, b"{}"
        # /rate_limit, /v1/agent/health and the reconciler's listings: empty.
        empty = {"total_count": 0, "runners": [], "workflow_runs": [], "jobs": []}
        return 200, _json(empty)

    def transport(self) -> httpx.MockTransport:
        """An httpx transport answering in-process (no socket, no HTTP parsing)."""

        async def handle(request: httpx.Request) -> httpx.Response:
            status, content = await self.answer(
                request.method, request.url.path, request.url.query.decode(), request.content
            )
            headers = {"content-type": "application/json"}
            return httpx.Response(status, content=content, headers=headers)

        return httpx.MockTransport(handle)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """The raw ASGI app (no framework: as little CPU per call as an ASGI server allows)."""
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        status, content = await self.answer(
            scope["method"], scope["path"], scope["query_string"].decode(), body
        )
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", b"%d" % len(content)),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})


def _json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()
