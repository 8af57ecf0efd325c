"""Tests for runners_on_demand.whole_delivery: deliveries answered in uvicorn's protocol.

Two servers run rod's app on loopback with uvicorn's httptools protocol and the edge's limits,
one answering whole deliveries in the protocol and one leaving every request to the ASGI app;
each case sends both the same bytes and the answers must be the same, byte for byte but for the
date. The in-process tests show which path a request took.
"""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import uvicorn

from runners_on_demand.limits import EdgeLimits, parser_protocol, protocol_class
from runners_on_demand.whole_delivery import whole_deliveries
from simulator.serving import free_port
from tests.runners_on_demand.test_app import (
    PREVIOUS,
    ROTATING,
    delivery,
    job_payload,
    mocked_app,
    sign,
)

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("httptools") is None, reason="httptools is not installed"
)

LIMITS = EdgeLimits(header_timeout=5.0, max_header_bytes=16384, max_connections=64)
GUARD = 10.0  # seconds a socket read may block before the test fails instead of hanging
CAP = 64 * 1024  # [server] max_body_bytes of these servers


def request(body: bytes, headers: dict[str, str], *, target: str = "/webhook") -> bytes:
    """Raw HTTP/1.1 bytes of a POST with `headers` (Content-Length added unless chunked)."""
    lines = [f"POST {target} HTTP/1.1", "Host: rod"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if "Transfer-Encoding" not in headers:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def chunked(body: bytes) -> bytes:
    """`body` in the chunked transfer coding, two chunks."""
    half = len(body) // 2
    parts = (body[:half], body[half:])
    return b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in parts) + b"0\r\n\r\n"


def read_answers(sock: socket.socket, count: int) -> list[bytes]:
    """`count` responses, each head (without its date) and body; fewer if the server closed."""
    data, answers = b"", []
    while len(answers) < count:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return answers
            data += chunk
        head, _, data = data.partition(b"\r\n\r\n")
        lines = [line for line in head.split(b"\r\n") if not line.lower().startswith(b"date:")]
        lengths = [int(line[15:]) for line in lines if line.lower().startswith(b"content-length:")]
        length = lengths[0] if lengths else 0  # 100 Continue has no body
        while len(data) < length:
            data += sock.recv(65536)
        answers.append(b"\r\n".join(lines) + b"\r\n\r\n" + data[:length])
        data = data[length:]
    return answers


def closed_after(sock: socket.socket) -> bool:
    """Whether the server closes the connection with nothing more to say."""
    try:
        return sock.recv(65536) == b""
    except ConnectionResetError:
        return True


class Server:
    """rod's app under uvicorn (httptools) in a thread; `whole` answers in the protocol."""

    def __init__(self, whole: bool) -> None:
        toml = f"[server]\nmax_body_bytes = {CAP}\n"
        self.app, self.github, self.nomad = mocked_app(toml, **ROTATING)
        self.port = free_port()
        http: Any = protocol_class(parser_protocol("httptools"), LIMITS)
        if whole:
            http = whole_deliveries(http, self.app.webhook_edge)  # type: ignore[attr-defined]
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, http=http, log_level="critical"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=GUARD)

    def metric(self, name: str, labels: dict[str, str]) -> float:
        value = self.app.state.metrics.registry.get_sample_value(name, labels)
        return float(value or 0.0)


@pytest.fixture(scope="module")
def both() -> Iterator[tuple[Server, Server]]:
    """A server answering whole deliveries in its protocol, and one leaving them to ASGI."""
    servers = (Server(whole=True), Server(whole=False))
    for server in servers:
        server.thread.start()
    for server in servers:
        while not server.server.started:
            time.sleep(0.01)
    yield servers
    for server in servers:
        server.server.should_exit = True
    for server in servers:
        server.thread.join(GUARD)


def exchange(server: Server, *parts: bytes, answers: int = 1, pause: float = 0.0) -> list[bytes]:
    """Send `parts` on one connection (`pause` seconds apart); the answers read back."""
    with server.connect() as sock:
        for index, part in enumerate(parts):
            if index and pause:
                time.sleep(pause)
            sock.sendall(part)
        return read_answers(sock, answers)


def on_both(servers: tuple[Server, Server], *parts: bytes, **how: Any) -> list[bytes]:
    """`exchange` with each server; the answers, which must be the same."""
    whole, asgi = (exchange(server, *parts, **how) for server in servers)
    assert whole == asgi
    return whole


_JOBS = itertools.count(1000)


def fresh(action: str = "queued") -> tuple[bytes, dict[str, str], bytes]:
    """A delivery of a job not seen before: body, headers, and the answer if it is queued."""
    job = next(_JOBS)
    body, headers = delivery(job_payload(action, job_id=job), delivery_id=str(uuid.uuid4()))
    return body, headers, b'{"queued":"rod-%d-1"}' % job


def cases() -> dict[str, tuple[bytes, dict[str, str]]]:
    """Requests to `/webhook` by name, each of a job not seen before."""
    body, headers, _ = fresh()
    rotated, rotated_headers, _ = fresh()
    return {
        "previous secret": (
            rotated,
            {**rotated_headers, "X-Hub-Signature-256": sign(rotated, PREVIOUS)},
        ),
        "in progress": fresh("in_progress")[:2],
        "ping": delivery({"zen": "Keep it logically awesome.", "hook_id": 1}, event="ping"),
        "other event": delivery({"action": "opened"}, event="issues"),
        "wrong signature": (body, {**headers, "X-Hub-Signature-256": sign(body, "x")}),
        "unsigned": (body, {k: v for k, v in headers.items() if "Signature" not in k}),
        "malformed": (b"{not json", {**headers, "X-Hub-Signature-256": sign(b"{not json")}),
        "not a delivery id": (body, {**headers, "X-GitHub-Delivery": "\x01nope"}),
    }


@pytest.mark.parametrize("case", sorted(cases()))
def test_the_answer_is_the_apps(both: tuple[Server, Server], case: str) -> None:
    body, headers = cases()[case]
    assert len(on_both(both, request(body, headers))) == 1


def test_a_repeated_delivery_is_a_duplicate_on_both(both: tuple[Server, Server]) -> None:
    body, headers, queued = fresh()
    raw = request(body, headers)
    first, again = on_both(both, raw, raw, answers=2)
    assert first.endswith(queued)
    assert again.endswith(queued.replace(b"queued", b"duplicate"))


def test_requests_sent_together_are_answered_in_order(both: tuple[Server, Server]) -> None:
    ping, other = cases()["ping"], cases()["other event"]
    body, headers, queued = fresh()
    together = request(*ping) + request(body, headers) + request(*other)
    answers = on_both(both, together, answers=3)
    assert [a.split(b"\r\n")[0] for a in answers] == [
        b"HTTP/1.1 200 OK",
        b"HTTP/1.1 202 Accepted",
        b"HTTP/1.1 202 Accepted",
    ]
    assert answers[1].endswith(queued)


def test_connection_close_is_answered_then_closed(both: tuple[Server, Server]) -> None:
    body, headers, queued = fresh()
    raw = request(body, {**headers, "Connection": "close"})
    behind = request(*fresh()[:2])  # sent after `close`: never answered, never queued
    answers = []
    for server in both:
        with server.connect() as sock:
            sock.sendall(raw + behind)
            answers.append(read_answers(sock, 2))
            assert closed_after(sock)
    assert answers[0] == answers[1]
    assert len(answers[0]) == 1 and answers[0][0].endswith(queued)
    assert b"\r\nconnection: close\r\n" in answers[0][0]


@pytest.mark.parametrize(
    "shape",
    ["body in two reads", "chunked", "chunked in two reads", "expect 100-continue", "query", "1.0"],
)
def test_other_shapes_get_the_same_answer(both: tuple[Server, Server], shape: str) -> None:
    body, headers, queued = fresh()
    parts: tuple[bytes, ...] = (request(body, headers),)
    if shape == "body in two reads":
        parts = (parts[0][:-100], parts[0][-100:])
    elif shape.startswith("chunked"):
        whole = request(chunked(body), {**headers, "Transfer-Encoding": "chunked"})
        parts = (whole[:-50], whole[-50:]) if "two" in shape else (whole,)
    elif shape == "expect 100-continue":
        parts = (request(body, {**headers, "Expect": "100-continue"}),)
    elif shape == "query":
        parts = (request(body, headers, target="/webhook?from=github"),)
    else:
        parts = (parts[0].replace(b" HTTP/1.1\r\n", b" HTTP/1.0\r\n", 1),)
    expected = 2 if shape == "expect 100-continue" else 1  # 100 Continue, then the answer
    answers = on_both(both, *parts, answers=expected, pause=0.2)
    assert len(answers) == expected
    assert answers[-1].endswith(queued)


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_a_body_over_the_cap_is_413_and_closed(both: tuple[Server, Server], declared: bool) -> None:
    body = b"x" * (CAP + 1)
    headers = {"X-GitHub-Event": "workflow_job", "X-Hub-Signature-256": sign(body)}
    raw = request(body, headers)
    if not declared:
        raw = request(chunked(body), {**headers, "Transfer-Encoding": "chunked"})
    answers = []
    for server in both:
        with server.connect() as sock:
            sock.sendall(raw)
            answers.append(read_answers(sock, 1))
            assert closed_after(sock)
    assert answers[0] == answers[1]
    assert answers[0][0].startswith(b"HTTP/1.1 413 ")


COUNTED = ("rod_webhooks_total", "rod_webhook_previous_secret_total")


def test_both_counted_the_same(both: tuple[Server, Server]) -> None:
    whole, asgi = (server.app.state.metrics.render() for server in both)
    counts = [
        sorted(line for line in text.decode().splitlines() if line.startswith(COUNTED))
        for text in (whole, asgi)
    ]
    assert counts[0] == counts[1] and counts[0]


class _Transport(asyncio.Transport):
    """What uvicorn's protocol writes, in memory."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []
        self.closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written.append(bytes(data))

    def close(self) -> None:
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 5555)}.get(name)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class TestWhichPath:
    """Driven in process: which requests the protocol answers itself, and when."""

    @staticmethod
    @asynccontextmanager
    async def protocol() -> AsyncIterator[tuple[Any, _Transport]]:
        """The protocol on a connection, with the app's lifespan running."""
        from uvicorn.server import ServerState

        app, _, _ = mocked_app()
        config = uvicorn.Config(app, http="httptools", log_level="critical", lifespan="off")
        config.load()
        limited = protocol_class(parser_protocol("httptools"), LIMITS)
        cls = whole_deliveries(limited, app.webhook_edge)  # type: ignore[attr-defined]
        proto: Any = cls(config=config, server_state=ServerState(), app_state={})  # type: ignore[call-arg]
        transport = _Transport()
        async with app.router.lifespan_context(app):
            proto.connection_made(transport)
            yield proto, transport
            proto.connection_lost(None)

    async def test_a_whole_delivery_is_answered_within_the_read(self) -> None:
        async with self.protocol() as (proto, transport):
            body, headers, queued = fresh()
            proto.data_received(request(body, headers))
            assert len(transport.written) == 1  # head and body in one write, before any await
            assert transport.written[0].endswith(queued)
            assert not proto.server_state.tasks  # no ASGI task

    async def test_a_body_still_coming_goes_to_the_app(self) -> None:
        async with self.protocol() as (proto, transport):
            body, headers, queued = fresh()
            raw = request(body, headers)
            proto.data_received(raw[:-100])
            assert transport.written == [] and len(proto.server_state.tasks) == 1
            proto.data_received(raw[-100:])
            for _ in range(500):
                if len(transport.written) == 2:  # uvicorn's send: the head, then the body
                    break
                await asyncio.sleep(0.01)
            assert transport.written[1] == queued

    async def test_another_route_goes_to_the_app(self) -> None:
        async with self.protocol() as (proto, transport):
            proto.data_received(b"GET /healthz HTTP/1.1\r\nHost: rod\r\n\r\n")
            assert transport.written == [] and len(proto.server_state.tasks) == 1
