"""The scale-set part of the GitHub emulator's control plane (`/_sim/...`, test-only)."""

from __future__ import annotations

from dataclasses import asdict

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from simulator.github.edge import json_body, require
from simulator.github.errors import ValidationFailed
from simulator.github.models import GitHubBackend
from simulator.github.scaleset_faults import ServiceFault
from simulator.github.sim_api import _guarded


@_guarded
async def faults(r: Request, b: GitHubBackend) -> Response:
    """POST /_sim/scalesets/faults {mode, operation, count, status, retry_after}; GET lists."""
    if r.method == "POST":
        fault = ServiceFault(**await json_body(r))
        b.scalesets.faults.add(fault)
        return JSONResponse(asdict(fault), status_code=201)
    return JSONResponse([asdict(f) for f in b.scalesets.faults.pending()])


@_guarded
async def stale_session(r: Request, b: GitHubBackend) -> Response:
    """POST /_sim/scalesets/{id}/stale-session {seconds}: new sessions get 409 meanwhile."""
    seconds = float(require(await json_body(r), "seconds", (int, float)))
    if seconds < 0:
        raise ValidationFailed("seconds must not be negative")
    scale_set = b.scalesets.hold_stale_session(r.path_params["scale_set_id"], seconds)
    return JSONResponse({"id": scale_set.id, "stale_until": scale_set.stale_until})


@_guarded
async def reassign(r: Request, b: GitHubBackend) -> Response:
    """POST /_sim/jobs/{id}/reassign {to: assigned|available}: JobCompleted canceled, then again."""
    to = str((await json_body(r)).get("to", "assigned"))
    return JSONResponse(b.scalesets.reassign_job(r.path_params["job_id"], to))


@_guarded
async def config(r: Request, b: GitHubBackend) -> Response:
    """POST /_sim/scalesets/config {poll_hold, session_timeout, ...}: timings until reset."""
    settings = b.scalesets.settings
    if r.method == "POST":
        changes = await json_body(r)
        for key, value in changes.items():
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if not hasattr(settings, key) or not number or value < 0:
                raise ValidationFailed(f"{key}: not a setting, or not a non-negative number")
        for key, value in changes.items():
            setattr(settings, key, float(value))
    return JSONResponse(asdict(settings))


@_guarded
async def state(r: Request, b: GitHubBackend) -> Response:
    """GET /_sim/scalesets: every scale set, its sessions (no tokens), requests and queue."""
    return JSONResponse(b.scalesets.dump())


ROUTES = [
    Route("/_sim/scalesets", state, methods=["GET"]),
    Route("/_sim/scalesets/faults", faults, methods=["GET", "POST"]),
    Route("/_sim/scalesets/config", config, methods=["GET", "POST"]),
    Route("/_sim/scalesets/{scale_set_id:int}/stale-session", stale_session, methods=["POST"]),
    Route("/_sim/jobs/{job_id:int}/reassign", reassign, methods=["POST"]),
]
