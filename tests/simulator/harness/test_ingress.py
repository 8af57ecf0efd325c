"""simulator.harness.ingress: one URL in front of the instances Nomad lists for a service."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from simulator.harness.ingress import Ingress, instances
from simulator.serving import ServerThread


def instance(name: str) -> ServerThread:
    """A server that says who it is and what it received."""

    async def echo(request: Request) -> JSONResponse:
        body = (await request.body()).decode()
        seen = {"name": name, "method": request.method, "path": request.url.path, "body": body}
        seen["query"] = str(request.query_params)
        seen["signature"] = request.headers.get("x-hub-signature-256", "")
        return JSONResponse(seen, status_code=202 if request.method == "POST" else 200)

    return ServerThread(Starlette(routes=[Route("/{p:path}", echo, methods=["GET", "POST"])]))


@pytest.fixture
def nomad() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A stand-in for `GET /v1/service/:name`, listing what the test puts in `registered`."""
    registered: list[dict[str, Any]] = []

    async def service(request: Request) -> JSONResponse:
        assert request.headers["x-nomad-token"] == "mgmt"
        wanted = request.path_params["name"]
        return JSONResponse([r for r in registered if r["ServiceName"] == wanted])

    server = ServerThread(Starlette(routes=[Route("/v1/service/{name}", service)])).start()
    try:
        yield server.url, registered
    finally:
        server.stop()


def test_requests_go_to_each_registered_instance_in_turn(
    nomad: tuple[str, list[dict[str, Any]]],
) -> None:
    url, registered = nomad
    servers = [instance("a").start(), instance("b").start()]
    ingress = Ingress(url, "mgmt").start()
    try:
        for server in servers:
            registered.append({"ServiceName": "rod", "Address": server.host, "Port": server.port})
        assert instances(url, "mgmt", "rod") == [server.url for server in servers]
        answers = [
            httpx.post(
                f"{ingress.url}/webhook?x=1",
                content=b'{"k": 1}',
                headers={"X-Hub-Signature-256": "sha256=ab"},
            )
            for _ in range(4)
        ]
        assert [a.json()["name"] for a in answers] == ["a", "b", "a", "b"]
        assert {a.status_code for a in answers} == {202}
        first = answers[0].json()
        assert (first["path"], first["query"], first["body"]) == ("/webhook", "x=1", '{"k": 1}')
        assert first["signature"] == "sha256=ab"
    finally:
        ingress.stop()
        for server in servers:
            server.stop()


def test_without_an_instance_it_answers_503(nomad: tuple[str, list[dict[str, Any]]]) -> None:
    url, _ = nomad
    ingress = Ingress(url, "mgmt").start()
    try:
        response = httpx.get(f"{ingress.url}/readyz")
    finally:
        ingress.stop()
    assert (response.status_code, response.text) == (503, "no instance of service rod")
