"""The GitHub emulator's control plane under `/_sim/` (test-only; not part of GitHub)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from simulator.control import ControlPlane, control_routes
from simulator.github import org_representations as org_rep
from simulator.github import representations as rep
from simulator.github.actions import JobSpec, Run
from simulator.github.edge import error_response, json_body, require
from simulator.github.errors import GitHubSimError, ValidationFailed
from simulator.github.models import GitHubBackend
from simulator.github.secondary import SecondarySettings
from simulator.github.webhooks import WebhookFault

Handler = Callable[[Request, GitHubBackend], Awaitable[Response]]


def _guarded(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    @functools.wraps(handler)  # the route keeps the operation's name
    async def run(request: Request) -> Response:
        try:
            return await handler(request, request.app.state.backend)
        except GitHubSimError as error:
            return error_response(error)
        except (TypeError, ValueError) as error:
            return JSONResponse({"message": f"bad request: {error}"}, status_code=400)

    return run


def _run(b: GitHubBackend, run: Run) -> dict[str, Any]:
    repo = b.repos[run.repo]
    body = rep.workflow_run(run, repo, b.urls, b.user)
    body["jobs"] = [rep.job(job, repo, b.urls, for_webhook=False) for job in run.jobs]
    return body


@_guarded
async def reset(r: Request, b: GitHubBackend) -> Response:
    """POST /_sim/reset: configured repos and tokens only; request log and faults cleared."""
    b.reset()
    r.app.state.control.reset()
    return Response(status_code=204)


@_guarded
async def state(r: Request, b: GitHubBackend) -> Response:
    """GET /_sim/state: every repo, run, job, runner, hook and delivery."""
    return JSONResponse(b.dump())


@_guarded
async def create_repo(r: Request, b: GitHubBackend) -> Response:
    """POST /_sim/repos {full_name, private?, fork?}."""
    body = await json_body(r)
    repo = b.create_repo(
        require(body, "full_name", str),
        private=bool(body.get("private")),
        fork=bool(body.get("fork")),
    )
    return JSONResponse(rep.repository(repo, b.urls), status_code=201)


@_guarded
async def create_org(r: Request, b: GitHubBackend) -> Response:
    """POST /_sim/orgs {login}: an organization with its default runner group."""
    org = b.create_org(require(await json_body(r), "login", str))
    return JSONResponse(org_rep.organization_full(org, [], b.urls), status_code=201)


@_guarded
async def add_token(r: Request, b: GitHubBackend) -> Response:
    """POST /_sim/tokens {token, admin?}: another token of the user (until the next reset)."""
    body = await json_body(r)
    admin = require(body, "admin", bool) if "admin" in body else True
    b.add_token(require(body, "token", str), admin=admin)
    return JSONResponse({"admin": admin}, status_code=201)


@_guarded
async def revoke_token(r: Request, b: GitHubBackend) -> Response:
    """DELETE /_sim/tokens/{token}: the token is revoked (GitHub's settings, or it expired)."""
    b.revoke_token(r.path_params["token"])
    return Response(status_code=204)


@_guarded
async def create_run(r: Request, b: GitHubBackend) -> Response:
    """POST /_sim/repos/{o}/{r}/runs {event, name, head_branch?, jobs: [...]}: queued jobs."""
    body = await json_body(r)
    specs = []
    for item in require(body, "jobs", list):
        if not isinstance(item, dict):
            raise ValidationFailed("each job is an object")
        specs.append(
            JobSpec(
                name=require(item, "name", str),
                labels=require(item, "labels", list),
                duration_seconds=float(item.get("duration_seconds", 0)),
                conclusion=str(item.get("conclusion", "success")),
                waiting=bool(item.get("waiting")),
            )
        )
    run = b.create_run(
        r.path_params["owner"],
        r.path_params["repo"],
        name=str(body.get("name", "CI")),
        event=str(body.get("event", "push")),
        head_branch=str(body.get("head_branch", "main")),
        jobs=specs,
    )
    return JSONResponse(_run(b, run), status_code=201)


@_guarded
async def cancel_job(r: Request, b: GitHubBackend) -> Response:
    """POST /_sim/jobs/{id}/cancel."""
    job = b.cancel_job(r.path_params["job_id"])
    return JSONResponse(rep.job(job, b.repos[job.repo], b.urls, for_webhook=False))


@_guarded
async def approve_job(r: Request, b: GitHubBackend) -> Response:
    """POST /_sim/jobs/{id}/approve: a waiting job is queued."""
    job = b.approve_job(r.path_params["job_id"])
    return JSONResponse(rep.job(job, b.repos[job.repo], b.urls, for_webhook=False))


@_guarded
async def clock(r: Request, b: GitHubBackend) -> Response:
    """POST /_sim/clock {advance_seconds} (GET shows now)."""
    if r.method == "POST":
        b.clock.advance(float((await json_body(r)).get("advance_seconds", 0)))
    return JSONResponse({"now": b.clock.now(), "iso": rep.iso(b.clock.now())})


@_guarded
async def webhook_faults(r: Request, b: GitHubBackend) -> Response:
    """POST /_sim/webhooks/faults {mode, count, delay_seconds, copies}: a `WebhookFault`."""
    body = await json_body(r)
    fault = WebhookFault(
        require(body, "mode", str),
        int(body.get("count", 1)),
        float(body.get("delay_seconds", 1.0)),
        int(body.get("copies", 2)),
    )
    b.add_webhook_fault(fault)
    return JSONResponse(asdict(fault), status_code=201)


@_guarded
async def secondary_limits(r: Request, b: GitHubBackend) -> Response:
    """POST /_sim/secondary-limits {enabled, points_per_minute?, concurrency?, status?,
    retry_after?}: GitHub's secondary limits on or off (until the next reset); GET shows them
    and the points each caller spent per endpoint in the last minute."""
    if r.method == "POST":
        b.secondary.configure(SecondarySettings(**await json_body(r)))
    return JSONResponse(b.secondary.describe(b.clock.now()))


@_guarded
async def webhooks_flush(r: Request, b: GitHubBackend) -> Response:
    """POST /_sim/webhooks/flush?timeout=: wait until every scheduled delivery is done."""
    timeout = float(r.query_params.get("timeout", "30"))
    done = b.deliverer.wait_idle(timeout)
    return JSONResponse({"idle": done}, status_code=200 if done else 504)


def routes(control: ControlPlane) -> list[Route]:
    """Every `/_sim/` route of the GitHub emulator, the shared ones included."""
    return [
        *control_routes(control),
        Route("/_sim/reset", reset, methods=["POST"]),
        Route("/_sim/state", state, methods=["GET"]),
        Route("/_sim/orgs", create_org, methods=["POST"]),
        Route("/_sim/tokens", add_token, methods=["POST"]),
        Route("/_sim/tokens/{token}", revoke_token, methods=["DELETE"]),
        Route("/_sim/repos", create_repo, methods=["POST"]),
        Route("/_sim/repos/{owner}/{repo}/runs", create_run, methods=["POST"]),
        Route("/_sim/jobs/{job_id:int}/cancel", cancel_job, methods=["POST"]),
        Route("/_sim/jobs/{job_id:int}/approve", approve_job, methods=["POST"]),
        Route("/_sim/clock", clock, methods=["GET", "POST"]),
        Route("/_sim/webhooks/faults", webhook_faults, methods=["POST"]),
        Route("/_sim/webhooks/flush", webhooks_flush, methods=["POST"]),
        Route("/_sim/secondary-limits", secondary_limits, methods=["GET", "POST"]),
    ]
