"""The GitHub emulator's route table and `create_app(backend)`."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from simulator.control import ControlMiddleware, ControlPlane
from simulator.github import responses as r
from simulator.github import runner_api, scaleset_api, scaleset_sim, sim_api
from simulator.github.errors import NotFound
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


HOOK = f"{REPO}/hooks/{{hook_id:int}}"
REST_ROUTES: list[BaseRoute] = [
    *_runner_routes(REPO),
    *_runner_routes(ORG),
    Route(f"{REPO}/actions/jobs/{{job_id:int}}", r.get_job, methods=["GET"]),
    Route(f"{REPO}/actions/runs", r.list_runs, methods=["GET"]),
    Route(f"{REPO}/actions/runs/{{run_id:int}}/jobs", r.list_run_jobs, methods=["GET"]),
    Route(f"{REPO}/hooks", r.list_hooks, methods=["GET"]),
    Route(f"{REPO}/hooks", r.create_hook, methods=["POST"]),
    Route(HOOK, r.get_hook, methods=["GET"]),
    Route(HOOK, r.update_hook, methods=["PATCH"]),
    Route(HOOK, r.delete_hook, methods=["DELETE"]),
    Route(f"{HOOK}/pings", r.ping_hook, methods=["POST"]),
    Route(f"{HOOK}/deliveries", r.list_deliveries, methods=["GET"]),
    Route(f"{HOOK}/deliveries/{{delivery_id:int}}", r.get_delivery, methods=["GET"]),
    Route(f"{HOOK}/deliveries/{{delivery_id:int}}/attempts", r.redeliver, methods=["POST"]),
    Route("/user/repos", r.list_user_repos, methods=["GET"]),
    Route(f"{ORG}/repos", r.list_org_repos, methods=["GET"]),
    Route(f"{REPO}/installation", r.get_repo_installation, methods=["GET"]),
    Route(
        "/app/installations/{installation_id:int}/access_tokens",
        r.create_installation_access_token,
        methods=["POST"],
    ),
    Route("/rate_limit", r.rate_limit, methods=["GET"]),
]


async def _not_found(request: Request, exc: Exception) -> Response:
    """Unknown paths answer like GitHub: 404 with the JSON error body."""
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
        exception_handlers={404: _not_found},
    )
    app.state.backend = backend
    app.state.control = control
    app.add_middleware(ControlMiddleware, control=control)
    return app
