"""URL table of the Nomad emulator and `create_app`, which adds the `/_sim/` control plane."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from simulator.control import ControlMiddleware, ControlPlane, control_routes
from simulator.nomad.errors import NomadError, RouteNotFound
from simulator.nomad.models import NomadBackend
from simulator.nomad.responses import NomadResponses, error_response

ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]
# The Nomad API as emulated: path, NomadResponses handler, the methods it serves (any other one
# reaches the handler and gets Nomad's 405). Paths as command/agent/http.go registers them; the
# `/v1/job/<id>/<suffix>` split is job_endpoint.go's `JobSpecificRequest` (suffix wins).
API_ROUTES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("/v1/jobs", "jobs", ("GET", "PUT", "POST")),
    ("/v1/jobs/parse", "parse", ("PUT", "POST")),
    ("/v1/job/{job_id:path}/dispatch", "dispatch", ("PUT", "POST")),
    ("/v1/job/{job_id:path}/summary", "summary", ("GET",)),
    ("/v1/job/{job_id:path}/allocations", "allocations", ("GET",)),
    ("/v1/job/{job_id:path}", "job", ("GET", "PUT", "POST", "DELETE")),
    ("/v1/system/gc", "gc", ("PUT",)),
    ("/v1/agent/health", "health", ("GET",)),
    ("/v1/status/leader", "leader", ("GET",)),
    ("/v1/nodes", "nodes", ("GET",)),
    ("/v1/event/stream", "event_stream", ("GET",)),
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


def create_app(
    backend: NomadBackend, *, acl_token: str | None = None, control: ControlPlane | None = None
) -> Starlette:
    """The emulator as an ASGI app; the backend is shut down (tasks killed) on app shutdown."""
    api = NomadResponses(backend, acl_token)
    control = control or ControlPlane()

    async def not_found(request: Request) -> Response:
        raise RouteNotFound()

    async def reset_all(request: Request) -> Response:
        control.reset()
        backend.reset()
        return JSONResponse({"reset": True})

    routes = [
        *(
            Route(path, getattr(api, name), methods=ALL_METHODS, name=name)
            for path, name, _ in API_ROUTES
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
        routes=routes, exception_handlers={NomadError: error_response}, lifespan=lifespan
    )
    app.add_middleware(ControlMiddleware, control=control)
    app.state.backend = backend
    app.state.control = control
    app.state.api = api
    return app
