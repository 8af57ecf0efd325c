"""Tests for runners_on_demand.transport over real sockets: answers, keep-alive, proxy, failures."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from runners_on_demand.transport import Transport, env_proxy
from simulator.serving import ServerThread, free_port

LIMITS = httpx.Limits(max_connections=10, keepalive_expiry=5.0)
peers: list[tuple[str, int]] = []


async def echo(request: Request) -> Response:
    assert request.client is not None
    peers.append((request.client.host, request.client.port))
    body = await request.body()
    headers = {"link": '<http://x/?page=2>; rel="next"', "x-ratelimit-remaining": "41"}
    answer = {"method": request.method, "body": body.decode(), "host": request.headers["host"]}
    return JSONResponse(answer, status_code=201, headers=headers)


async def slow(request: Request) -> Response:
    await asyncio.sleep(2)
    return Response("late")


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    app = Starlette(routes=[Route("/echo", echo, methods=["GET", "POST"]), Route("/slow", slow)])
    with ServerThread(app) as running:
        yield running.url


@pytest.fixture
async def client(server: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=Transport(server, limits=LIMITS), timeout=5) as c:
        yield c


async def test_an_answer_is_an_httpx_response(server: str, client: httpx.AsyncClient) -> None:
    response = await client.post(f"{server}/echo", json={"name": "r"}, headers={"X-A": "1"})
    assert response.status_code == 201
    assert response.json()["body"] == '{"name":"r"}'
    assert response.headers["x-ratelimit-remaining"] == "41"
    assert response.links["next"]["url"] == "http://x/?page=2"


async def test_connections_are_kept_alive(server: str, client: httpx.AsyncClient) -> None:
    peers.clear()
    for _ in range(20):
        assert (await client.get(f"{server}/echo")).status_code == 201
    assert len(set(peers)) == 1


@pytest.fixture
def clean_proxy_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No proxy variable of the machine's own, in either case (the lower-case ones win)."""
    for name in os.environ:
        if name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)
    return monkeypatch


async def test_the_proxy_environment_is_honoured(
    server: str, clean_proxy_env: pytest.MonkeyPatch
) -> None:
    clean_proxy_env.setenv("HTTP_PROXY", server)  # the echo server plays the proxy
    transport = Transport("http://github.invalid", limits=LIMITS)
    async with httpx.AsyncClient(transport=transport) as client:
        response = await client.get("http://github.invalid/echo")
    assert response.status_code == 201 and response.json()["host"] == "github.invalid"


class TestEnvProxy:
    def test_the_scheme_variable_names_the_proxy(self, clean_proxy_env: pytest.MonkeyPatch) -> None:
        clean_proxy_env.setenv("HTTPS_PROXY", "http://user:pw@proxy.example:3128")
        proxy = env_proxy("https://api.github.com")
        assert proxy is not None and proxy.url == httpx.URL("http://proxy.example:3128")
        assert proxy.auth == ("user", "pw")
        assert env_proxy("http://nomad.example:4646") is None  # no HTTP_PROXY

    def test_no_proxy_exempts_a_host(self, clean_proxy_env: pytest.MonkeyPatch) -> None:
        clean_proxy_env.setenv("HTTP_PROXY", "http://proxy.example:3128")
        clean_proxy_env.setenv("NO_PROXY", "nomad.example")
        assert env_proxy("http://nomad.example:4646") is None
        assert env_proxy("http://other.example") is not None

    async def test_it_is_read_when_the_transport_is_made(
        self, server: str, clean_proxy_env: pytest.MonkeyPatch
    ) -> None:
        transport = Transport(server, limits=LIMITS)
        clean_proxy_env.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")  # would refuse
        async with httpx.AsyncClient(transport=transport) as client:
            assert (await client.get(f"{server}/echo")).status_code == 201


class TestFailuresAreHttpxErrors:
    async def test_refused(self, client: httpx.AsyncClient) -> None:
        with pytest.raises(httpx.ConnectError, match="ClientConnectorError"):
            await client.get(f"http://127.0.0.1:{free_port()}/")

    async def test_too_slow(self, server: str) -> None:
        timeout = httpx.Timeout(0.2)
        transport = Transport(server, limits=LIMITS)
        async with httpx.AsyncClient(transport=transport, timeout=timeout) as c:
            with pytest.raises(httpx.TimeoutException):
                await c.get(f"{server}/slow")

    async def test_cut_short(self, client: httpx.AsyncClient) -> None:
        listener = socket.create_server(("127.0.0.1", 0))
        port = listener.getsockname()[1]

        def answer_half() -> None:
            connection, _ = listener.accept()
            connection.recv(65536)
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
            connection.close()

        threading.Thread(target=answer_half, daemon=True).start()
        try:
            with pytest.raises(httpx.TransportError):
                await client.get(f"http://127.0.0.1:{port}/")
        finally:
            listener.close()
