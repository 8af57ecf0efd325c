"""URL table of the Nomad emulator and `create_app`, which adds the `/_sim/` control plane."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

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
    variables = VariableResponses(backend)
    acl = AclResponses(backend)
    control = control or ControlPlane()

    async def not_found(request: Request) -> Response:
        raise RouteNotFound()

    async def reset_all(request: Request) -> Response:
        control.reset()
        backend.reset()
        return JSONResponse({"reset": True})

    routes = [
        Route("/v1/jobs", api.jobs, methods=ALL_METHODS),
        Route("/v1/jobs/parse", api.parse, methods=ALL_METHODS),
        Route("/v1/job/{rest:path}", api.job, methods=ALL_METHODS),
        Route("/v1/system/gc", api.gc, methods=ALL_METHODS),
        Route("/v1/agent/health", api.health, methods=["GET"]),
        Route("/v1/status/leader", api.leader, methods=["GET"]),
        Route("/v1/nodes", api.nodes, methods=ALL_METHODS),
        Route("/v1/service/{name}", api.service, methods=ALL_METHODS),
        Route("/v1/event/stream", api.event_stream, methods=ALL_METHODS),
        Route("/v1/vars", variables.variables, methods=ALL_METHODS),
        Route("/v1/var/{path:path}", variables.variable, methods=ALL_METHODS),
        Route("/v1/acl/bootstrap", acl.bootstrap, methods=ALL_METHODS),
        Route("/v1/acl/policies", acl.policies, methods=ALL_METHODS),
        Route("/v1/acl/policy/{name:path}", acl.policy, methods=ALL_METHODS),
        Route("/v1/acl/tokens", acl.tokens, methods=ALL_METHODS),
        Route("/v1/acl/token", acl.token, methods=ALL_METHODS),
        Route("/v1/acl/token/{accessor:path}", acl.token, methods=ALL_METHODS),
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
