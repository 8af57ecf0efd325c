"""README step 4's ingress, for the deployed backend: one URL in front of the `rod` instances.

rod.nomad.hcl registers each instance as Nomad service `rod` (`provider = "nomad"`); an ingress
that reads Nomad services (Traefik's or Caddy's Nomad provider) routes to the registered
addresses. This one asks `GET /v1/service/rod` on every request and takes the instances in turn.
The emulator runs no health checks, so every registered instance counts as healthy.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from simulator.serving import ServerThread

# Hop-by-hop and framing headers a proxy must not pass on (RFC 9110 section 7.6.1).
_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "host", "content-length"}
_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]


def instances(nomad_url: str, token: str | None, service: str) -> list[str]:
    """Base URLs of the service's registered instances (`GET /v1/service/:name`)."""
    headers = {"X-Nomad-Token": token} if token else {}
    response = httpx.get(f"{nomad_url}/v1/service/{service}", headers=headers, timeout=5)
    response.raise_for_status()
    return [f"http://{entry['Address']}:{entry['Port']}" for entry in response.json()]


class Ingress:
    """A reverse proxy on a free loopback port; `url` is valid after `start()`."""

    def __init__(self, nomad_url: str, token: str | None, service: str = "rod") -> None:
        self.nomad_url, self.token, self.service = nomad_url.rstrip("/"), token, service
        self._turn = itertools.count()
        self._client: httpx.AsyncClient | None = None

        @asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            async with httpx.AsyncClient(timeout=30) as client:
                self._client = client
                yield

        routes = [Route("/{path:path}", self._forward, methods=_METHODS)]
        self._server = ServerThread(Starlette(routes=routes, lifespan=lifespan))

    @property
    def url(self) -> str:
        """Where GitHub (and the suite) reach the dispatcher."""
        return self._server.url

    async def _forward(self, request: Request) -> Response:
        assert self._client is not None
        headers = {"X-Nomad-Token": self.token} if self.token else {}
        listed = await self._client.get(
            f"{self.nomad_url}/v1/service/{self.service}", headers=headers
        )
        entries = listed.json() if listed.is_success else []
        if not entries:
            return PlainTextResponse(f"no instance of service {self.service}", status_code=503)
        entry = entries[next(self._turn) % len(entries)]
        target = f"http://{entry['Address']}:{entry['Port']}{request.url.path}"
        upstream = await self._client.request(
            request.method,
            target,
            params=request.query_params,
            headers={k: v for k, v in request.headers.items() if k.lower() not in _HOP},
            content=await request.body(),
        )
        # httpx has already decoded the body: its content-encoding no longer applies.
        dropped = {*_HOP, "content-encoding"}
        kept = {k: v for k, v in upstream.headers.items() if k.lower() not in dropped}
        return Response(upstream.content, status_code=upstream.status_code, headers=kept)

    def start(self) -> Ingress:
        """Serve in a background thread."""
        self._server.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._server.stop()
