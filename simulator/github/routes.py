"""The GitHub emulator's route table and `create_app(backend)`."""

from __future__ import annotations

from email.utils import formatdate

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from simulator.control import ControlMiddleware, ControlPlane
from simulator.github import responses as r
from simulator.github import runner_api, scaleset_api, scaleset_sim, sim_api
from simulator.github import runner_group_responses as g
from simulator.github.edge import error_response
from simulator.github.errors import GitHubSimError, NotFound
from simulator.github.models import GitHubBackend

REPO = "/repos/{owner}/{repo}"
ORG = "/orgs/{org}"


def _runner_routes(prefix: str) -> list[BaseRoute]:
    base = f"{prefix}/actions/runners"
    return [
        Route(f"{base}/registration-token", r.create_registration_token, methods=["POST"]),
        Route(f"{base}/remove-token", r.create_remove_token, methods=["POST"]),
        Route(f"{base}/generate-jitconfig", r.generate_jitconfig, methods=["POST"]),
        Route(base, r.list_runners, methods=["GET"]),
        Route(f"{base}/{{runner_id:int}}", r.get_runner, methods=["GET"]),
        Route(f"{base}/{{runner_id:int}}", r.delete_runner, methods=["DELETE"]),
    ]


def _hook_routes(prefix: str) -> list[BaseRoute]:
    hook = f"{prefix}/hooks/{{hook_id:int}}"
    delivery = f"{hook}/deliveries/{{delivery_id:int}}"
    return [
        Route(f"{prefix}/hooks", r.list_hooks, methods=["GET"]),
        Route(f"{prefix}/hooks", r.create_hook, methods=["POST"]),
        Route(hook, r.get_hook, methods=["GET"]),
        Route(hook, r.update_hook, methods=["PATCH"]),
        Route(hook, r.delete_hook, methods=["DELETE"]),
        Route(f"{hook}/pings", r.ping_hook, methods=["POST"]),
        Route(f"{hook}/deliveries", r.list_deliveries, methods=["GET"]),
        Route(delivery, r.get_delivery, methods=["GET"]),
        Route(f"{delivery}/attempts", r.redeliver, methods=["POST"]),
    ]


GROUPS = f"{ORG}/actions/runner-groups"
GROUP = f"{GROUPS}/{{runner_group_id:int}}"
RUNNER_GROUP_ROUTES: list[BaseRoute] = [
    Route(GROUPS, g.list_runner_groups, methods=["GET"]),
    Route(GROUPS, g.create_runner_group, methods=["POST"]),
    Route(GROUP, g.get_runner_group, methods=["GET"]),
    Route(GROUP, g.update_runner_group, methods=["PATCH"]),
    Route(GROUP, g.delete_runner_group, methods=["DELETE"]),
    Route(f"{GROUP}/repositories", g.list_group_repos, methods=["GET"]),
    Route(f"{GROUP}/repositories", g.set_group_repos, methods=["PUT"]),
    Route(f"{GROUP}/repositories/{{repository_id:int}}", g.add_group_repo, methods=["PUT"]),
    Route(f"{GROUP}/repositories/{{repository_id:int}}", g.remove_group_repo, methods=["DELETE"]),
    Route(f"{GROUP}/runners", g.list_group_runners, methods=["GET"]),
    Route(f"{GROUP}/runners", g.set_group_runners, methods=["PUT"]),
    Route(f"{GROUP}/runners/{{runner_id:int}}", g.add_group_runner, methods=["PUT"]),
    Route(f"{GROUP}/runners/{{runner_id:int}}", g.remove_group_runner, methods=["DELETE"]),
]
REST_ROUTES: list[BaseRoute] = [
    *_runner_routes(REPO),
    *_runner_routes(ORG),
    *RUNNER_GROUP_ROUTES,
    Route(f"{REPO}/actions/jobs/{{job_id:int}}", r.get_job, methods=["GET"]),
    Route(f"{REPO}/actions/runs", r.list_runs, methods=["GET"]),
    Route(f"{REPO}/actions/runs/{{run_id:int}}/jobs", r.list_run_jobs, methods=["GET"]),
    *_hook_routes(REPO),
    *_hook_routes(ORG),
    Route("/user/repos", r.list_user_repos, methods=["GET"]),
    Route(f"{ORG}/repos", r.list_org_repos, methods=["GET"]),
    Route(ORG, r.get_org, methods=["GET"]),
    Route("/users/{username}/repos", r.list_account_repos, methods=["GET"]),
    Route(f"{REPO}/installation", r.get_repo_installation, methods=["GET"]),
    Route(f"{ORG}/installation", r.get_org_installation, methods=["GET"]),
    Route("/app", r.get_authenticated_app, methods=["GET"]),
    Route(
        "/app/installations/{installation_id:int}/access_tokens",
        r.create_installation_access_token,
        methods=["POST"],
    ),
    Route("/rate_limit", r.rate_limit, methods=["GET"]),
]


async def _unrouted(request: Request, exc: Exception) -> Response:
    """No route for this path, or for this method of it: GitHub answers 404 with its JSON error
    body either way (it has no 405), after refusing bad credentials (401 `Bad credentials`)."""
    if request.url.path.startswith("/_"):  # the emulator's own APIs keep a plain 405
        if isinstance(exc, HTTPException) and exc.status_code == 405:
            return PlainTextResponse(exc.detail, status_code=405)
    else:
        backend: GitHubBackend = request.app.state.backend
        try:
            backend.identify(request.headers.get("authorization"))
        except GitHubSimError as error:
            return error_response(error)
    return JSONResponse(NotFound().body(), status_code=404)


def create_app(backend: GitHubBackend, control: ControlPlane | None = None) -> Starlette:
    """The emulator as an ASGI app: REST API (also under GHES' `/api/v3`), the Actions service
    of runner scale sets, the `/_actions` runner API and the `/_sim` control plane."""
    control = control or ControlPlane()
    github_api = [*REST_ROUTES, *scaleset_api.GITHUB_ROUTES]
    app = Starlette(
        routes=[
            *github_api,
            Mount("/api/v3", routes=github_api),
            *scaleset_api.ROUTES,
            *runner_api.ROUTES,
            *sim_api.routes(control),
            *scaleset_sim.ROUTES,
        ],
        exception_handlers={404: _unrouted, 405: _unrouted},
    )
    app.state.backend = backend
    app.state.control = control
    app.add_middleware(ControlMiddleware, control=control)
    app.add_middleware(_Dated, backend=backend)
    return app


class _Dated:
    """Every answer's `Date` by the backend's clock, the one x-ratelimit-reset counts on, as
    GitHub's two agree (uvicorn's own `Date` is off: simulator/serving.py)."""

    def __init__(self, app: ASGIApp, backend: GitHubBackend) -> None:
        self.app = app
        self.backend = backend

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def dated(message: Message) -> None:
            if message["type"] == "http.response.start":
                now = formatdate(self.backend.clock.now(), usegmt=True).encode()
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"date"]
                message = {**message, "headers": [*kept, (b"date", now)]}
            await send(message)

        await self.app(scope, receive, dated)
