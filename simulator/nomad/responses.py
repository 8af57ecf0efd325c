"""The thin HTTP layer: parse a Nomad API request, call the backend, serialize the answer."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse

from simulator.nomad.errors import BadRequest, MethodNotAllowed, NomadError, PermissionDenied
from simulator.nomad.events import parse_topics
from simulator.nomad.jobspec import duration_ns
from simulator.nomad.models import NomadBackend

# structs.JobDispatchRequest fields, matched case-insensitively like Go's encoding/json.
_DISPATCH_FIELDS: tuple[str, ...] = ("JobID", "Payload", "Meta", "IdPrefixTemplate", "Priority")
_DISPATCH_FIELDS += ("IdempotencyToken", "Namespace", "Region")
_GO_TYPE = {str: "string", int: "number", float: "number", bool: "bool", list: "array"}
_GO_TYPE[dict] = "object"


def _go_type(value: Any) -> str:
    return "null" if value is None else _GO_TYPE.get(type(value), "value")


def error_response(request: Request, exc: Exception) -> Response:
    """Nomad's `wrap()`: the status of the error and its message as text/plain."""
    assert isinstance(exc, NomadError)
    return PlainTextResponse(exc.message, status_code=exc.status)


class NomadResponses:
    """Request handlers over one backend; `acl_token` set means ACLs are enforced."""

    heartbeat_seconds = 30.0  # nomad/stream/ndjson.go: `{}` every 30 s

    def __init__(self, backend: NomadBackend, acl_token: str | None = None) -> None:
        self.backend = backend
        self.acl_token = acl_token

    # -- request helpers -----------------------------------------------------------------------

    def _authorize(self, request: Request) -> None:
        """`parseToken` (http.go L1031): X-Nomad-Token wins over `Authorization: Bearer`."""
        if self.acl_token is None:
            return
        token = request.headers.get("x-nomad-token", "")
        if not token:
            scheme, _, value = request.headers.get("authorization", "").partition(" ")
            token = value.strip() if scheme.lower() == "bearer" else ""
        if token != self.acl_token:
            raise PermissionDenied()

    @staticmethod
    def _namespace(request: Request, body_value: str = "") -> str:
        return request.query_params.get("namespace") or body_value or "default"

    @staticmethod
    async def _body(request: Request) -> Any:
        raw = await request.body()
        if not raw:
            raise BadRequest("Request body is empty")
        try:
            return json.loads(raw)
        except json.JSONDecodeError as exc:
            raise BadRequest(f"invalid character in JSON body: {exc.msg}") from exc

    def _reply(self, data: Any, index: int | None = None) -> Response:
        headers = {"X-Nomad-LastContact": "0", "X-Nomad-KnownLeader": "true"}
        if index is not None:
            headers["X-Nomad-Index"] = str(index)
        return JSONResponse(data, headers=headers)

    async def _block(self, request: Request, current: Callable[[], int]) -> None:
        """Blocking query: wait while `current()` <= `?index=`, up to `?wait=` (cap 300 s)."""
        params = request.query_params
        try:
            wait = duration_ns(params["wait"]) / 1e9 if "wait" in params else 300.0
        except ValueError as exc:
            raise BadRequest("Invalid wait time") from exc
        try:
            index = int(params.get("index", "0"))
            if index < 0:
                raise ValueError(index)
        except ValueError as exc:
            raise BadRequest("Invalid index") from exc
        if index > 0:
            await self.backend.watch.wait_beyond(current, index, wait)

    # -- /v1/jobs ------------------------------------------------------------------------------

    async def jobs(self, request: Request) -> Response:
        """`GET /v1/jobs` (list) and `PUT|POST /v1/jobs` (register)."""
        self._authorize(request)
        if request.method in ("PUT", "POST"):
            return await self._register(request, "")
        if request.method != "GET":
            raise MethodNotAllowed()
        await self._block(request, lambda: self.backend.jobs_index)
        params = request.query_params
        stubs = self.backend.list_jobs(
            self._namespace(request),
            prefix=params.get("prefix", ""),
            filter_expr=params.get("filter", ""),
            meta=_go_bool(params.get("meta", "")),
        )
        return self._reply(stubs, self.backend.jobs_index)

    async def _register(self, request: Request, path_id: str) -> Response:
        body = await self._body(request)
        job = body.get("Job") if isinstance(body, dict) else None
        if not isinstance(job, dict):
            raise BadRequest("Job must be specified")
        if not job.get("ID"):
            raise BadRequest("Job ID hasn't been provided")
        if path_id and job["ID"] != path_id:
            raise BadRequest("Job ID does not match name")
        reply = self.backend.register_job(job, self._namespace(request, job.get("Namespace", "")))
        return self._reply(reply, reply["Index"])

    async def parse(self, request: Request) -> Response:
        """`PUT|POST /v1/jobs/parse`: `{JobHCL, Variables, Canonicalize}` -> a bare api.Job."""
        self._authorize(request)
        if request.method not in ("PUT", "POST"):
            raise MethodNotAllowed()
        body = await self._body(request)
        if not isinstance(body, dict):
            raise BadRequest("Job spec is empty")
        job = self.backend.parse_job(
            str(body.get("JobHCL") or ""),
            str(body.get("Variables") or ""),
            bool(body.get("Canonicalize")),
        )
        return JSONResponse(job)

    # -- /v1/job/... ---------------------------------------------------------------------------

    async def job(self, request: Request) -> Response:
        """`/v1/job/<id>`: read (GET), register (PUT/POST) or deregister (DELETE) one job."""
        self._authorize(request)
        job_id: str = request.path_params["job_id"]
        if request.method == "GET":
            return await self._get_job(request, job_id)
        if request.method in ("PUT", "POST"):
            return await self._register(request, job_id)
        if request.method == "DELETE":
            return self._deregister(request, job_id)
        raise MethodNotAllowed()

    async def dispatch(self, request: Request) -> Response:
        """`/v1/job/<id>/dispatch`."""
        self._authorize(request)
        return await self._dispatch(request, request.path_params["job_id"])

    async def summary(self, request: Request) -> Response:
        """`/v1/job/<id>/summary`."""
        self._authorize(request)
        return await self._summary(request, request.path_params["job_id"])

    async def allocations(self, request: Request) -> Response:
        """`/v1/job/<id>/allocations`."""
        self._authorize(request)
        return await self._allocations(request, request.path_params["job_id"])

    async def _get_job(self, request: Request, job_id: str) -> Response:
        ns = self._namespace(request)
        await self._block(request, lambda: self.backend.job_index(job_id, ns))
        job = self.backend.get_job(job_id, ns)
        return self._reply(job, job["ModifyIndex"])

    async def _summary(self, request: Request, job_id: str) -> Response:
        if request.method != "GET":
            raise MethodNotAllowed()
        summary = self.backend.job_summary(job_id, self._namespace(request))
        return self._reply(summary, summary["ModifyIndex"])

    async def _allocations(self, request: Request, job_id: str) -> Response:
        if request.method != "GET":
            raise MethodNotAllowed()
        await self._block(request, self.backend.allocs_index)
        allocs = self.backend.job_allocations(job_id, self._namespace(request))
        return self._reply(allocs, self.backend.allocs_index())

    def _deregister(self, request: Request, job_id: str) -> Response:
        purge = _go_bool(request.query_params.get("purge", ""))
        reply = self.backend.deregister_job(job_id, self._namespace(request), purge=purge)
        return self._reply(reply, reply["Index"])

    async def _dispatch(self, request: Request, job_id: str) -> Response:
        """`jobDispatchRequest` (command/agent/job_endpoint.go L881)."""
        if request.method not in ("PUT", "POST"):
            raise MethodNotAllowed()
        body = await self._body(request)
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise BadRequest(
                f"json: cannot unmarshal {_go_type(body)} into Go value of type "
                "structs.JobDispatchRequest"
            )
        fields = _fold(body, _DISPATCH_FIELDS)
        payload = _payload(fields.get("Payload"))
        meta = fields.get("Meta") or {}
        if not isinstance(meta, dict):
            raise BadRequest(_unmarshal(meta, "Meta", "map[string]string"))
        bad = [v for v in meta.values() if not isinstance(v, str)]
        if bad:
            raise BadRequest(_unmarshal(bad[0], "Meta", "string"))
        if fields.get("JobID") and fields["JobID"] != job_id:
            raise BadRequest("Job ID does not match")
        priority = fields.get("Priority") or 0
        if not isinstance(priority, int) or isinstance(priority, bool):
            raise BadRequest(_unmarshal(priority, "Priority", "int"))
        query = request.query_params
        reply = self.backend.dispatch_job(
            job_id,
            self._namespace(request, str(fields.get("Namespace") or "")),
            payload=payload,
            meta=meta,
            id_prefix_template=str(fields.get("IdPrefixTemplate") or ""),
            # parseWriteRequest (http.go L1158): a non-empty query value overrides the body.
            idempotency_token=query.get("idempotency_token")
            or str(fields.get("IdempotencyToken") or ""),
            priority=priority,
        )
        return self._reply(reply, reply["Index"])

    # -- /v1/event/stream ---------------------------------------------------------------------

    async def event_stream(self, request: Request) -> Response:
        """NDJSON: `{}` at once and every `heartbeat_seconds`, then `{Index, Events}` lines."""
        self._authorize(request)
        if request.method != "GET":
            raise MethodNotAllowed()
        try:
            start = int(request.query_params.get("index", "0"))
        except ValueError as exc:
            raise BadRequest("Invalid index") from exc
        topics = parse_topics(request.query_params.getlist("topic"))
        namespace = request.query_params.get("namespace") or "default"
        buffer, watch = self.backend.events, self.backend.watch

        async def lines() -> AsyncIterator[bytes]:
            yield b"{}\n"
            last, generation = start, buffer.generation
            while True:
                if buffer.generation != generation:  # /_sim/reset: indexes restarted
                    last, generation = 0, buffer.generation
                for batch in buffer.batches_after(last, topics, namespace):
                    yield json.dumps(batch).encode() + b"\n"
                last = max(last, buffer.last_index)
                seen = last
                await watch.wait_beyond(lambda: buffer.last_index, seen, self.heartbeat_seconds)
                if buffer.last_index <= seen and buffer.generation == generation:
                    yield b"{}\n"

        return StreamingResponse(lines(), media_type="application/json")

    # -- system, agent, status, nodes ----------------------------------------------------------

    async def gc(self, request: Request) -> Response:
        """`PUT /v1/system/gc`: PUT only; 200 with an empty body."""
        self._authorize(request)
        if request.method != "PUT":
            raise MethodNotAllowed()
        self.backend.garbage_collect()
        return Response(b"", status_code=200)

    async def health(self, request: Request) -> Response:
        """`GET /v1/agent/health` (agent_endpoint.go L704-800)."""
        if request.method != "GET":
            raise MethodNotAllowed()
        ok = {"ok": True, "message": "ok"}
        kind = request.query_params.get("type")
        body = {k: ok for k in ("client", "server") if kind in (None, k)}
        return JSONResponse(body)

    async def leader(self, request: Request) -> Response:
        """`GET /v1/status/leader`: the leader's RPC address as a JSON string."""
        if request.method != "GET":
            raise MethodNotAllowed()
        return JSONResponse("127.0.0.1:4647")

    async def nodes(self, request: Request) -> Response:
        """`GET /v1/nodes`."""
        self._authorize(request)
        if request.method != "GET":
            raise MethodNotAllowed()
        return self._reply(self.backend.list_nodes(), 1)


def _go_bool(value: str) -> bool:
    """`strconv.ParseBool`'s true spellings (python-nomad sends `True`)."""
    return value in ("1", "t", "T", "true", "TRUE", "True")


def _unmarshal(value: Any, field: str, go_type: str) -> str:
    """encoding/json's UnmarshalTypeError text for a JobDispatchRequest field."""
    return (
        f"json: cannot unmarshal {_go_type(value)} into Go struct field "
        f"JobDispatchRequest.{field} of type {go_type}"
    )


def _fold(body: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """Match JSON keys to struct fields ignoring case (not underscores), as encoding/json does."""
    by_lower = {name.lower(): name for name in names}
    out: dict[str, Any] = {}
    for key, value in body.items():
        name = by_lower.get(key.lower())
        if name is not None and (name not in out or key == name):
            out[name] = value
    return out


def _payload(value: Any) -> bytes | None:
    """Go decodes a []byte from standard base64; anything else is a 400."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest(_unmarshal(value, "Payload", "[]uint8"))
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadRequest(f"illegal base64 data: {exc}") from exc
