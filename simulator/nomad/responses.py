"""The thin HTTP layer for jobs: parse a Nomad API request, call the backend, serialize.

Capabilities are checked where Nomad's RPC checks them, after the HTTP agent's own 400s
(nomad/job_endpoint.go: Register submit-job|register-job, GetJob/Summary/Allocations read-job,
List list-jobs, Dispatch dispatch-job, Deregister submit-job|purge-job[|deregister-job];
command/agent/job_endpoint.go: Parse parse-job|submit-job; system GC: management;
Node.List: node read; ServiceRegistration.GetService: read-job or a workload identity).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from simulator.nomad.errors import BadRequest, MethodNotAllowed, PermissionDenied
from simulator.nomad.events import parse_topics
from simulator.nomad.httpbase import ApiBase, go_base64, go_type

# structs.JobDispatchRequest fields, matched case-insensitively like Go's encoding/json.
_DISPATCH_FIELDS: tuple[str, ...] = ("JobID", "Payload", "Meta", "IdPrefixTemplate", "Priority")
_DISPATCH_FIELDS += ("IdempotencyToken", "Namespace", "Region")


class NomadResponses(ApiBase):
    """Jobs, dispatch, events, GC, nodes; each call checks the capability Nomad's RPC checks."""

    heartbeat_seconds = 30.0  # nomad/stream/ndjson.go: `{}` every 30 s

    # -- /v1/jobs ------------------------------------------------------------------------------

    async def jobs(self, request: Request) -> Response:
        """`GET /v1/jobs` (list) and `PUT|POST /v1/jobs` (register)."""
        if request.method in ("PUT", "POST"):
            return await self._register(request, "")
        if request.method != "GET":
            raise MethodNotAllowed()
        params = request.query_params
        per_page = params.get("per_page", "")
        if per_page and not _go_int32(per_page):
            # command/agent/http.go parsePagination, before the RPC's ACL check
            raise BadRequest("Expect a number for `per_page` query string parameter")
        self._require(request, self._namespace(request), "list-jobs")
        await self._block(request, lambda: self.backend.jobs_index)
        if params.get("filter"):
            # Not emulated (simulator/README.md): refused rather than silently ignored.
            raise BadRequest("filter expressions are not supported by the Nomad emulator")
        stubs, next_token = self.backend.list_jobs(
            self._namespace(request),
            prefix=params.get("prefix", ""),
            meta=_go_bool(params.get("meta", "")),
            per_page=int(per_page or 0),
            next_token=params.get("next_token", ""),
        )
        reply = self._reply(stubs, self.backend.jobs_index)
        if next_token:  # command/agent/http.go setNextToken: only when there is a next page
            reply.headers["X-Nomad-NextToken"] = next_token
        return reply

    async def _register(self, request: Request, path_id: str) -> Response:
        body = await self._body(request)
        job = body.get("Job") if isinstance(body, dict) else None
        if not isinstance(job, dict):
            raise BadRequest("Job must be specified")
        if not job.get("ID"):
            raise BadRequest("Job ID hasn't been provided")
        if path_id and job["ID"] != path_id:
            raise BadRequest("Job ID does not match name")
        namespace = self._namespace(request, job.get("Namespace", ""))
        self._require(request, namespace, "submit-job", "register-job")
        reply = self.backend.register_job(job, namespace)
        return self._reply(reply, reply["Index"])

    async def parse(self, request: Request) -> Response:
        """`PUT|POST /v1/jobs/parse`: `{JobHCL, Variables, Canonicalize}` -> a bare api.Job."""
        if request.method not in ("PUT", "POST"):
            raise MethodNotAllowed()
        body = await self._body(request)
        if not isinstance(body, dict):
            raise BadRequest("Job spec is empty")
        self._require(request, self._namespace(request), "parse-job", "submit-job")
        job = self.backend.parse_job(
            str(body.get("JobHCL") or ""),
            str(body.get("Variables") or ""),
            bool(body.get("Canonicalize")),
        )
        return JSONResponse(job)

    # -- /v1/job/... ---------------------------------------------------------------------------

    async def job(self, request: Request) -> Response:
        """`/v1/job/<id>`: read (GET), register (PUT/POST) or deregister (DELETE) one job."""
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
        return await self._dispatch(request, request.path_params["job_id"])

    async def summary(self, request: Request) -> Response:
        """`/v1/job/<id>/summary`."""
        return await self._summary(request, request.path_params["job_id"])

    async def allocations(self, request: Request) -> Response:
        """`/v1/job/<id>/allocations`."""
        return await self._allocations(request, request.path_params["job_id"])

    async def _get_job(self, request: Request, job_id: str) -> Response:
        ns = self._namespace(request)
        self._require(request, ns, "read-job")
        await self._block(request, lambda: self.backend.job_index(job_id, ns))
        job = self.backend.get_job(job_id, ns)
        return self._reply(job, job["ModifyIndex"])

    async def _summary(self, request: Request, job_id: str) -> Response:
        if request.method != "GET":
            raise MethodNotAllowed()
        ns = self._namespace(request)
        self._require(request, ns, "read-job")
        await self._block(request, lambda: self.backend.summary_index(job_id, ns))
        summary = self.backend.job_summary(job_id, ns)
        return self._reply(summary, summary["ModifyIndex"])

    async def _allocations(self, request: Request, job_id: str) -> Response:
        if request.method != "GET":
            raise MethodNotAllowed()
        self._require(request, self._namespace(request), "read-job")
        await self._block(request, self.backend.allocs_index)
        allocs = self.backend.job_allocations(job_id, self._namespace(request))
        return self._reply(allocs, self.backend.allocs_index())

    def _deregister(self, request: Request, job_id: str) -> Response:
        purge = _go_bool(request.query_params.get("purge", ""))
        capabilities = ("submit-job", "purge-job") + (() if purge else ("deregister-job",))
        self._require(request, self._namespace(request), *capabilities)
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
                f"json: cannot unmarshal {go_type(body)} into Go value of type "
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
        namespace = self._namespace(request, str(fields.get("Namespace") or ""))
        self._require(request, namespace, "dispatch-job")
        reply = self.backend.dispatch_job(
            job_id,
            namespace,
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
        if request.method != "GET":
            raise MethodNotAllowed()
        try:
            start = int(request.query_params.get("index", "0"))
        except ValueError as exc:
            raise BadRequest("Invalid index") from exc
        topics = parse_topics(request.query_params.getlist("topic"))
        namespace = request.query_params.get("namespace") or "default"
        if not all(self._caller(request).acl.allow_topic(namespace, t) for t in topics):
            raise PermissionDenied()
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
        if request.method != "PUT":
            raise MethodNotAllowed()
        self._require_management(request)
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
        if request.method != "GET":
            raise MethodNotAllowed()
        if not self._caller(request).acl.allow_node_read():
            raise PermissionDenied()
        return self._reply(self.backend.list_nodes(), 1)

    async def service(self, request: Request) -> Response:
        """`GET /v1/service/:name`: read-job, or a workload (service_registration_endpoint.go)."""
        if request.method != "GET":
            raise MethodNotAllowed()
        namespace = self._namespace(request)
        caller = self._caller(request)
        if caller.claim is None and not caller.acl.allow_ns_op(namespace, "read-job"):
            raise PermissionDenied()
        found = self.backend.service_registrations(request.path_params["name"], namespace)
        return self._reply(found, self.backend.allocs_index())


def _go_int32(value: str) -> bool:
    """Whether `strconv.ParseInt(value, 10, 32)` accepts `value`."""
    return re.fullmatch(r"[+-]?[0-9]+", value) is not None and -(2**31) <= int(value) < 2**31


def _go_bool(value: str) -> bool:
    """`strconv.ParseBool`'s true spellings (python-nomad sends `True`)."""
    return value in ("1", "t", "T", "true", "TRUE", "True")


def _unmarshal(value: Any, field: str, target: str) -> str:
    """encoding/json's UnmarshalTypeError text for a JobDispatchRequest field."""
    return (
        f"json: cannot unmarshal {go_type(value)} into Go struct field "
        f"JobDispatchRequest.{field} of type {target}"
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
        return go_base64(value)
    except ValueError as exc:
        raise BadRequest(str(exc)) from exc
