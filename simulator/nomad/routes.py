"""URL table of the Nomad emulator and `create_app`, which adds the `/_sim/` control plane."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import NamedTuple

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from simulator.control import ControlMiddleware, ControlPlane, control_routes
from simulator.nomad.acl_responses import AclResponses
from simulator.nomad.errors import NomadSimError, RouteNotFound
from simulator.nomad.httpbase import error_response
from simulator.nomad.models import NomadBackend
from simulator.nomad.responses import NomadResponses
from simulator.nomad.var_responses import VariableResponses

ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]


class ApiRoute(NamedTuple):
    """One emulated Nomad API route: its path, which responses object and handler serve it, and
    the methods Nomad serves there (any other one reaches the handler and gets Nomad's 405)."""

    path: str
    group: str  # "jobs" (NomadResponses), "variables" or "acl"
    handler: str
    methods: tuple[str, ...]
    name: str = ""  # the route's name when its handler serves two paths

    @property
    def route_name(self) -> str:
        """The name the route is known by (the endpoint coverage page shows it)."""
        return self.name or self.handler


# The Nomad API as emulated, paths as command/agent/http.go registers them; the
# `/v1/job/<id>/<suffix>` split is job_endpoint.go's `JobSpecificRequest` (suffix wins).
API_ROUTES: tuple[ApiRoute, ...] = (
    ApiRoute("/v1/jobs", "jobs", "jobs", ("GET", "PUT", "POST")),
    ApiRoute("/v1/jobs/parse", "jobs", "parse", ("PUT", "POST")),
    ApiRoute("/v1/job/{job_id:path}/dispatch", "jobs", "dispatch", ("PUT", "POST")),
    ApiRoute("/v1/job/{job_id:path}/summary", "jobs", "summary", ("GET",)),
    ApiRoute("/v1/job/{job_id:path}/allocations", "jobs", "allocations", ("GET",)),
    ApiRoute("/v1/job/{job_id:path}", "jobs", "job", ("GET", "PUT", "POST", "DELETE")),
    ApiRoute("/v1/system/gc", "jobs", "gc", ("PUT",)),
    ApiRoute("/v1/agent/health", "jobs", "health", ("GET",)),
    ApiRoute("/v1/status/leader", "jobs", "leader", ("GET",)),
    ApiRoute("/v1/nodes", "jobs", "nodes", ("GET",)),
    ApiRoute("/v1/service/{name}", "jobs", "service", ("GET",)),
    ApiRoute("/v1/event/stream", "jobs", "event_stream", ("GET",)),
    ApiRoute("/v1/vars", "variables", "variables", ("GET",)),
    ApiRoute("/v1/var/{path:path}", "variables", "variable", ("GET", "PUT", "POST", "DELETE")),
    ApiRoute("/v1/acl/bootstrap", "acl", "bootstrap", ("PUT", "POST")),
    ApiRoute("/v1/acl/policies", "acl", "policies", ("GET",)),
    ApiRoute("/v1/acl/policy/{name:path}", "acl", "policy", ("GET", "PUT", "POST", "DELETE")),
    ApiRoute("/v1/acl/tokens", "acl", "tokens", ("GET",)),
    ApiRoute("/v1/acl/token", "acl", "token", ("PUT", "POST"), name="token_create"),
    ApiRoute("/v1/acl/token/{accessor:path}", "acl", "token", ("GET", "PUT", "POST", "DELETE")),
)


def sim_routes(backend: NomadBackend) -> list[Route]:
    """`POST /_sim/reset`, `GET /_sim/state`, `POST /_sim/clock {advance_seconds}`."""

    async def reset(request: Request) -> Response:
        backend.reset()
        return JSONResponse({"reset": True})

    async def state(request: Request) -> Response:
        return JSONResponse(backend.state())

    async def clock(request: Request) -> Response:
        try:
            seconds = float((await request.json())["advance_seconds"])
            now = backend.clock.advance(seconds)
        except (KeyError, TypeError, ValueError) as exc:
            return JSONResponse({"message": f"bad clock request: {exc}"}, status_code=400)
        return JSONResponse({"now": now})

    return [
        Route("/_sim/reset", reset, methods=["POST"]),
        Route("/_sim/state", state, methods=["GET"]),
        Route("/_sim/clock", clock, methods=["POST"]),
    ]


def create_app(backend: NomadBackend, *, control: ControlPlane | None = None) -> Starlette:
    """The emulator as an ASGI app; the backend is shut down (tasks killed) on app shutdown."""
    api = NomadResponses(backend)
    groups: dict[str, object] = {
        "jobs": api,
        "variables": VariableResponses(backend),
        "acl": AclResponses(backend),
    }
    control = control or ControlPlane()

    async def not_found(request: Request) -> Response:
        raise RouteNotFound()

    async def reset_all(request: Request) -> Response:
        control.reset()
        backend.reset()
        return JSONResponse({"reset": True})

    routes = [
        *(
            Route(
                r.path, getattr(groups[r.group], r.handler), methods=ALL_METHODS, name=r.route_name
            )
            for r in API_ROUTES
        ),
        Route("/_sim/reset", reset_all, methods=["POST"]),
        *sim_routes(backend)[1:],
        *control_routes(control),
        Route("/{rest:path}", not_found, methods=ALL_METHODS),
    ]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        backend.shutdown()

    app = Starlette(
        routes=routes, exception_handlers={NomadSimError: error_response}, lifespan=lifespan
    )
    app.add_middleware(ControlMiddleware, control=control)
    app.state.backend = backend
    app.state.control = control
    app.state.api = api
    return app
