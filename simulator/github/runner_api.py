"""The simulator-only runner API under `/_actions` (the real broker protocol is private).

As docs/architecture.md fixes it (plus `runner_group` on register, for org runners):
`POST /_actions/register`, `POST /_actions/sessions`, `GET /_actions/sessions/{id}/job?wait=`,
`POST /_actions/jobs/{job_id}/complete`, `DELETE /_actions/sessions/{id}`.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from simulator.github.edge import error_response, json_body, require
from simulator.github.errors import GitHubSimError, RunnerCredentialRejected
from simulator.github.models import GitHubBackend

POLL_INTERVAL = 0.05
MAX_WAIT = 60.0

Handler = Callable[[Request, GitHubBackend], Awaitable[Response]]


def _guarded(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    @functools.wraps(handler)  # the route keeps the operation's name
    async def run(request: Request) -> Response:
        try:
            return await handler(request, request.app.state.backend)
        except GitHubSimError as error:
            return error_response(error)

    return run


def _secret(request: Request) -> str:
    scheme, _, secret = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise RunnerCredentialRejected("missing runner credential (Authorization: Bearer ...)")
    return secret.strip()


@_guarded
async def register(r: Request, b: GitHubBackend) -> Response:
    """POST /_actions/register {token, name, labels, ephemeral, runner_group?} -> 201
    {runner_id, jit_config}; `runner_group` is config.sh's `--runnergroup` (a name)."""
    body = await json_body(r)
    runner, jit = b.register_runner(
        token=require(body, "token", str),
        name=require(body, "name", str),
        labels=require(body, "labels", list),
        ephemeral=bool(body.get("ephemeral", False)),
        runner_group=require(body, "runner_group", str) if "runner_group" in body else "",
    )
    return JSONResponse({"runner_id": runner.id, "jit_config": jit}, status_code=201)


@_guarded
async def open_session(r: Request, b: GitHubBackend) -> Response:
    """POST /_actions/sessions -> 201 {session_id, runner_id}; the runner is online."""
    runner = b.open_session(_secret(r))
    return JSONResponse({"session_id": runner.session_id, "runner_id": runner.id}, 201)


@_guarded
async def acquire_job(r: Request, b: GitHubBackend) -> Response:
    """GET /_actions/sessions/{id}/job?wait=<s> -> 200 the job (now in_progress) or 204."""
    secret, session_id = _secret(r), r.path_params["session_id"]
    try:
        wait = min(max(float(r.query_params.get("wait", "0")), 0.0), MAX_WAIT)
    except ValueError:
        wait = 0.0
    deadline = time.monotonic() + wait
    while True:
        job = b.acquire_job(secret, session_id)
        if job is not None:
            spec = job.spec
            return JSONResponse(
                {
                    "job_id": job.id,
                    "run_id": job.run_id,
                    "name": spec.name,
                    "labels": list(spec.labels),
                    "duration_seconds": spec.duration_seconds,
                    "conclusion": spec.conclusion,
                }
            )
        if time.monotonic() >= deadline:
            return Response(status_code=204)
        await asyncio.sleep(POLL_INTERVAL)


@_guarded
async def complete_job(r: Request, b: GitHubBackend) -> Response:
    """POST /_actions/jobs/{job_id}/complete {conclusion} -> 200; the job is completed."""
    body = await json_body(r)
    job = b.complete_job(_secret(r), r.path_params["job_id"], require(body, "conclusion", str))
    return JSONResponse({"job_id": job.id, "status": job.status, "conclusion": job.conclusion})


@_guarded
async def close_session(r: Request, b: GitHubBackend) -> Response:
    """DELETE /_actions/sessions/{id} -> 204; the runner goes offline."""
    b.close_session(_secret(r), r.path_params["session_id"])
    return Response(status_code=204)


ROUTES = [
    Route("/_actions/register", register, methods=["POST"]),
    Route("/_actions/sessions", open_session, methods=["POST"]),
    Route("/_actions/sessions/{session_id}/job", acquire_job, methods=["GET"]),
    Route("/_actions/sessions/{session_id}", close_session, methods=["DELETE"]),
    Route("/_actions/jobs/{job_id:int}/complete", complete_job, methods=["POST"]),
]
