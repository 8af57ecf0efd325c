"""Tests for runners_on_demand.limits: the edge's limits on real sockets, for h11 and httptools.

Each test starts uvicorn with the limited protocol class on a loopback port and speaks raw
HTTP/1.1 to it. They assert what happens (closed, 408, 431, served), never how fast; socket
timeouts only keep a broken build from hanging. scripts/bench_edge.py prints the figures.
"""

from __future__ import annotations

import asyncio
import importlib.util
import re
import select
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import uvicorn
from hypothesis import given
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from runners_on_demand.limits import EdgeLimits, head_end, parser_protocol, protocol_class
from simulator.serving import free_port

LIMITS = EdgeLimits(header_timeout=0.5, max_header_bytes=4096, max_connections=8)
GUARD = 10.0  # seconds a socket read may block before the test fails instead of hanging
HTTPTOOLS = importlib.util.find_spec("httptools") is not None
PARSERS = [
    "h11",
    pytest.param(
        "httptools",
        marks=pytest.mark.skipif(not HTTPTOOLS, reason="httptools is not installed"),
    ),
]


def app(calls: list[str], release: threading.Event) -> Starlette:
    async def echo(request: Request) -> Response:
        body = await request.body()
        calls.append(request.url.path)
        if request.url.path == "/slow":
            while not release.is_set():  # a request being handled, for the connection cap
                await asyncio.sleep(0.01)
        return JSONResponse({"bytes": len(body)})

    return Starlette(routes=[Route("/{path:path}", echo, methods=["GET", "POST"])])


class Edge:
    """A running server and raw connections to it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.calls: list[str] = []
        self.release = threading.Event()

    def connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=GUARD)
        return sock

    def request(self, sock: socket.socket, path: str = "/hook", body: bytes = b"") -> bytes:
        head = f"POST {path} HTTP/1.1\r\nHost: rod\r\nContent-Length: {len(body)}\r\n\r\n"
        sock.sendall(head.encode() + body)
        return answer(sock)


def answer(sock: socket.socket) -> bytes:
    """One response (head and a Content-Length body), or what came before the close."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.lower().split(b"\r\n")
    length = next((int(line[15:]) for line in lines if line.startswith(b"content-length:")), 0)
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def closed(sock: socket.socket) -> bool:
    """Whether the server closed the connection (reads end), after anything it sent."""
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass
    return True


@contextmanager
def serving(parser: str, limits: EdgeLimits = LIMITS) -> Iterator[Edge]:
    edge = Edge(free_port())
    config = uvicorn.Config(
        app(edge.calls, edge.release),
        host="127.0.0.1",
        port=edge.port,
        http=protocol_class(parser_protocol(parser), limits),
        log_level="critical",
        lifespan="off",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield edge
    finally:
        edge.release.set()
        server.should_exit = True
        thread.join(GUARD)


@pytest.mark.parametrize("parser", PARSERS)
class TestHeadTimeout:
    def test_an_idle_connection_is_closed(self, parser: str) -> None:
        with serving(parser) as edge, edge.connect() as sock:
            assert sock.recv(1) == b""  # closed without a word: nothing was asked

    def test_a_slow_head_gets_408_then_is_closed(self, parser: str) -> None:
        with serving(parser) as edge, edge.connect() as sock:
            sock.sendall(b"POST /hook HTTP/1.1\r\nHost: rod\r\nX-Slow: a")
            got = answer(sock)
            assert got.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
            assert b"request head not received within 0.5s" in got
            assert closed(sock) and edge.calls == []

    def test_the_timeout_starts_again_after_each_response(self, parser: str) -> None:
        with serving(parser) as edge, edge.connect() as sock:
            assert edge.request(sock).startswith(b"HTTP/1.1 200")
            assert edge.request(sock).startswith(b"HTTP/1.1 200")  # keep-alive still works
            assert sock.recv(1) == b""  # then, idle: closed
            assert edge.calls == ["/hook", "/hook"]

    def test_each_connection_times_out_at_its_own_deadline(self, parser: str) -> None:
        # One timer serves every connection (deadlines.DueInOrder): the first to time out must not
        # take a later one with it, and the timer must be armed again for that one.
        with serving(parser) as edge, edge.connect() as first:
            time.sleep(LIMITS.header_timeout * 0.6)
            with edge.connect() as second:
                assert first.recv(1) == b""  # the first one's deadline passed: closed
                readable, _, _ = select.select([second], [], [], 0)
                assert readable == []  # the second's has not: still open, nothing sent
                assert second.recv(1) == b""  # then it passes too

    def test_a_head_split_anywhere_is_served(self, parser: str) -> None:
        with serving(parser) as edge, edge.connect() as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            head = b"POST /hook HTTP/1.1\r\nHost: rod\r\nContent-Length: 2\r\n\r\n"
            for byte in head:
                sock.sendall(bytes([byte]))
            sock.sendall(b"{}")
            assert answer(sock).startswith(b"HTTP/1.1 200")


@pytest.mark.parametrize("parser", PARSERS)
class TestHeadSize:
    def test_a_head_over_the_cap_gets_431_and_never_reaches_the_app(self, parser: str) -> None:
        with serving(parser) as edge, edge.connect() as sock:
            sock.sendall(b"POST /hook HTTP/1.1\r\nHost: rod\r\nX-Big: " + b"a" * 5000)
            got = answer(sock)
            assert got.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
            assert b'{"error": "request head over 4096 bytes"}' in got
            assert closed(sock) and edge.calls == []

    def test_a_large_body_behind_a_small_head_is_served(self, parser: str) -> None:
        with serving(parser) as edge, edge.connect() as sock:
            got = edge.request(sock, body=b"x" * 200_000)  # one read holds head and body
            assert got.startswith(b"HTTP/1.1 200") and got.endswith(b'{"bytes":200000}')


@pytest.mark.parametrize("parser", PARSERS)
class TestUnreadableRequest:
    @pytest.mark.parametrize(
        "request_bytes",
        [
            b"POST /hook HTTP/1.1\r\nHost: rod\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            b"GET /\xff HTTP/1.1\r\nHost: rod\r\n\r\n",
        ],
        ids=["two lengths", "bad target"],
    )
    def test_a_request_the_parser_refuses_gets_one_line_of_json(
        self, parser: str, request_bytes: bytes
    ) -> None:
        # uvicorn answered "Invalid HTTP request received." as text/plain.
        with serving(parser) as edge, edge.connect() as sock:
            sock.sendall(request_bytes)
            got = answer(sock)
            assert got.startswith(b"HTTP/1.1 400 Bad Request\r\n")
            assert b"content-type: application/json\r\n" in got
            assert got.endswith(b'\r\n\r\n{"error": "Invalid HTTP request received."}')
            assert closed(sock) and edge.calls == []


@pytest.mark.parametrize("parser", PARSERS)
class TestConnectionCap:
    def test_idle_connections_make_room_for_a_delivery(self, parser: str) -> None:
        with serving(parser) as edge:
            idle = [edge.connect() for _ in range(LIMITS.max_connections)]
            with edge.connect() as sock:
                assert edge.request(sock).startswith(b"HTTP/1.1 200")
            assert closed(idle[0])  # the one that waited longest went
            for sock in idle:
                sock.close()

    def test_a_pipelined_request_in_hand_is_not_closed_to_make_room(self, parser: str) -> None:
        with serving(parser) as edge:
            busy = edge.connect()
            first = b"POST /hook HTTP/1.1\r\nHost: rod\r\nContent-Length: 0\r\n\r\n"
            busy.sendall(first + b"GET /slow HTTP/1.1\r\nHost: rod\r\n\r\n")
            deadline = time.monotonic() + GUARD
            while "/slow" not in edge.calls and time.monotonic() < deadline:
                time.sleep(0.01)
            idle = [edge.connect() for _ in range(LIMITS.max_connections)]
            time.sleep(LIMITS.header_timeout / 5)  # the server has seen them all
            edge.release.set()
            assert answer(busy).startswith(b"HTTP/1.1 200")  # /hook
            assert answer(busy).startswith(b"HTTP/1.1 200")  # /slow, not cut off
            assert closed(idle[0])  # one of the idle went instead
            for sock in [busy, *idle]:
                sock.close()

    def test_a_burst_of_connections_keeps_to_the_cap(self, parser: str) -> None:
        # Accepted in one turn of the event loop, they must each evict a different connection.
        with serving(parser) as edge:
            burst = [edge.connect() for _ in range(64)]
            with edge.connect() as sock:
                assert edge.request(sock).startswith(b"HTTP/1.1 200")
            readable, _, _ = select.select(burst, [], [], 1.0)  # the evicted see their close
            still_open = [s for s in burst if s not in readable or s.recv(1) != b""]
            assert len(still_open) <= LIMITS.max_connections
            for sock in burst:
                sock.close()

    def test_when_every_connection_is_busy_a_new_one_is_refused(self, parser: str) -> None:
        with serving(parser) as edge:
            busy = [edge.connect() for _ in range(LIMITS.max_connections)]
            for sock in busy:
                sock.sendall(b"GET /slow HTTP/1.1\r\nHost: rod\r\n\r\n")
            deadline = time.monotonic() + GUARD
            while edge.calls.count("/slow") < len(busy) and time.monotonic() < deadline:
                time.sleep(0.01)
            with edge.connect() as sock:
                assert sock.recv(1) == b""  # refused: closed at once
            edge.release.set()
            for sock in busy:  # none of the requests in hand was cut off
                assert answer(sock).startswith(b"HTTP/1.1 200")
                sock.close()


class TestParserProtocol:
    def test_auto_is_httptools_when_installed_else_h11(self) -> None:
        expected = "HttpToolsProtocol" if HTTPTOOLS else "H11Protocol"
        assert parser_protocol("auto").__name__ == expected

    def test_the_class_keeps_uvicorns_name(self) -> None:
        limited = protocol_class(parser_protocol("h11"), LIMITS)
        assert limited.__name__ == "LimitedH11Protocol"
        assert issubclass(limited, parser_protocol("h11"))


class TestHeadEnd:
    EMPTY_LINE = re.compile(rb"\r?\n\r?\n")  # what h11 and llhttp take as the end of a head

    @given(st.lists(st.sampled_from([b"\r", b"\n", b"a", b":", b" "]), max_size=16), st.data())
    def test_it_ends_where_the_first_empty_line_does(
        self, parts: list[bytes], data: st.DataObject
    ) -> None:
        window = b"".join(parts)
        limit = data.draw(st.integers(0, len(window) + 4))
        found = self.EMPTY_LINE.search(window[:limit])
        assert head_end(window, limit) == (found.end() if found else -1)

    def test_a_delivery_head_ends_before_its_body(self) -> None:
        head = b"POST /webhook HTTP/1.1\r\nHost: rod\r\nContent-Length: 9\r\n\r\n"
        assert head_end(head + b'{"a":"\n\n"}', 16384) == len(head)
        assert head_end(head.replace(b"\r\n", b"\n") + b"\r\n\r\n", 16384) == len(head) - 4
