"""Property-based fuzzing of `/webhook` (hypothesis) with GitHub and Nomad that record every call.

Properties: no input gets a 5xx; nothing reaches GitHub or Nomad without a valid signature; every
4xx is one line of JSON `{"error": ...}` without a traceback; a validly signed but mutated
delivery gets 2xx or 400, and the workers never fail unexpectedly on what the edge accepted.
Deterministic: derandomized, no example database, bounded example counts.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import json
import select
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette

from runners_on_demand.app import create_app
from runners_on_demand.config import load_settings
from simulator.harness.dispatcher import clean_environment, rod_command
from simulator.harness.waiting import wait_for
from simulator.serving import free_port

SAMPLE = json.loads(
    (Path(__file__).parents[1] / "samples" / "workflow_job" / "06.queued.json").read_text()
)
SAMPLE["workflow_job"]["status"] = "queued"  # approved: the example still awaits approval
SECRET = "fuzz-webhook-secret"
ENV = {
    "GITHUB_WEBHOOK_SECRET": SECRET,
    "GITHUB_TOKEN": "ghp_fuzz_token",
    "GITHUB_API_URL": "https://api.github.test",
    "NOMAD_ADDR": "http://nomad.test:4646",
}
MAX_BODY = 1024 * 1024  # the default cap; every generated body stays below it
FUZZ = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def sign(body: bytes) -> str:
    return "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


STATE_VARIABLE = "/v1/var/rod/served-repos"  # [reconcile] state_variable's default


@dataclass
class Upstreams:
    """GitHub and Nomad stand-ins that answer success and remember every request."""

    calls: list[httpx.Request] = field(default_factory=list)

    def github(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        if request.method == "POST" and request.url.path.endswith("/generate-jitconfig"):
            body = {"runner": {"id": 1, "name": "r"}, "encoded_jit_config": "ZnV6eg=="}
            return httpx.Response(201, json=body)
        return httpx.Response(404, json={"message": "Not Found"})

    def nomad(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        if request.method == "POST" and request.url.path.endswith("/dispatch"):
            body = {"DispatchedJobID": "github-runner/dispatch-1-aa", "EvalID": "e1"}
            return httpx.Response(200, json=body)
        if request.method == "PUT" and request.url.path.startswith("/v1/var/"):
            path = request.url.path.removeprefix("/v1/var/")
            return httpx.Response(200, json={"Path": path, "ModifyIndex": 2, "ModifyTime": 0})
        return httpx.Response(404, text="not found")


class Edge:
    """The app with its workers running on one event loop, driven from synchronous tests."""

    def __init__(self, runner: asyncio.Runner) -> None:
        self.runner = runner
        self.upstreams = Upstreams()
        self.app: Starlette = create_app(
            load_settings(ENV, f"[server]\nmax_body_bytes = {MAX_BODY}\nworkers = 2\n"),
            github_transport=httpx.MockTransport(self.upstreams.github),
            nomad_transport=httpx.MockTransport(self.upstreams.nomad),
        )
        self.stack = AsyncExitStack()
        self.client: httpx.AsyncClient = runner.run(self._enter())

    async def _enter(self) -> httpx.AsyncClient:
        await self.stack.enter_async_context(self.app.router.lifespan_context(self.app))
        # The reconciler reads its state Variable once it starts: not a delivery's call.
        async with asyncio.timeout(10):
            while not any(call.url.path == STATE_VARIABLE for call in self.upstreams.calls):
                await asyncio.sleep(0.01)
        transport = httpx.ASGITransport(app=self.app)
        client = httpx.AsyncClient(transport=transport, base_url="http://rod.test")
        return await self.stack.enter_async_context(client)

    def post(self, body: bytes, headers: list[tuple[bytes, bytes]]) -> httpx.Response:
        """POST /webhook, then wait until the workers carried out whatever it queued."""

        async def send() -> httpx.Response:
            response = await self.client.post("/webhook", content=body, headers=headers)
            await self.app.state.pipeline.join()
            return response

        return self.runner.run(send())

    def unexpected_worker_errors(self) -> float:
        registry = self.app.state.metrics.registry
        return float(registry.get_sample_value("rod_dispatches_total", {"outcome": "error"}) or 0)

    def close(self) -> None:
        self.runner.run(self.stack.aclose())


@pytest.fixture(scope="module")
def edge() -> Iterator[Edge]:
    with asyncio.Runner() as runner:
        edge = Edge(runner)
        try:
            yield edge
        finally:
            edge.close()


def check_answer(response: httpx.Response) -> None:
    """Never a 5xx; every error is one line of JSON `{"error": <str>}` without a traceback."""
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.headers["content-type"] == "application/json"
        assert "\n" not in response.text and "Traceback" not in response.text
        body = response.json()
        assert list(body) == ["error"] and isinstance(body["error"], str) and body["error"]


# --- strategies ---------------------------------------------------------------------------------

# Header values straight as bytes: the edge must cope with whatever an ASGI server hands over.
header_bytes = st.one_of(
    st.binary(max_size=80),
    st.text(max_size=40).map(lambda text: text.encode("utf-8")),
    st.builds(lambda unit, n: unit * n, st.binary(min_size=1, max_size=4), st.integers(1, 20_000)),
)
garbage_signatures = st.one_of(
    header_bytes,
    st.sampled_from([b"", b"sha256=", b"sha1=abc", b"SHA256=zz", b"sha256=" + b"0" * 64]),
    st.binary(min_size=32, max_size=32).map(lambda raw: b"sha256=" + raw.hex().encode()),
)
header_names = st.sampled_from(
    [
        b"content-type",
        b"Content-Type",
        b"X-Hub-Signature-256",
        b"x-hub-signature-256",
        b"X-HUB-SIGNATURE-256",
        b"x-hub-signature",
        b"x-github-event",
        b"X-GitHub-Delivery",
        b"x-github-hook-id",
        b"content-length",
        b"transfer-encoding",
    ]
)
content_types = st.sampled_from(
    [
        b"application/json",
        b"APPLICATION/JSON; charset=utf-8",
        b"application/x-www-form-urlencoded",
        b"text/plain",
        b"multipart/form-data; boundary=x",
        b"",
    ]
)
random_headers = st.lists(
    st.tuples(header_names, st.one_of(header_bytes, garbage_signatures, content_types)),
    max_size=12,
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children)
    ),
    max_leaves=12,
)
_DELETE = object()  # a field mutation that removes the field
# Places in a workflow_job delivery that the parser reads.
FIELDS = [
    ("action",),
    ("workflow_job",),
    ("workflow_job", "id"),
    ("workflow_job", "run_id"),
    ("workflow_job", "run_attempt"),
    ("workflow_job", "name"),
    ("workflow_job", "workflow_name"),
    ("workflow_job", "labels"),
    ("workflow_job", "status"),
    ("workflow_job", "conclusion"),
    ("workflow_job", "runner_id"),
    ("workflow_job", "runner_name"),
    ("repository",),
    ("repository", "full_name"),
    ("repository", "html_url"),
    ("repository", "fork"),
    ("installation",),
    ("installation", "id"),
]
labels = st.lists(st.text(min_size=1, max_size=20), max_size=2000).map(
    lambda extra: ["self-hosted", *extra]
)


def signed(
    body: bytes, *, event: bytes = b"workflow_job", form: bool = False
) -> list[tuple[bytes, bytes]]:
    kind = b"application/x-www-form-urlencoded" if form else b"application/json"
    return [
        (b"content-type", kind),
        (b"x-github-event", event),
        (b"x-github-delivery", hashlib.sha1(body).hexdigest().encode()),
        (b"x-github-hook-id", b"101"),
        (b"x-hub-signature-256", sign(body).encode()),
    ]


def replaced(document: dict[str, Any], path: tuple[str, ...], value: object) -> dict[str, Any]:
    """A deep copy of `document` with the value at `path` replaced (None path: deleted)."""
    result = copy.deepcopy(document)
    parent = result
    for key in path[:-1]:
        parent = parent[key]
    if value is _DELETE:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return result


@st.composite
def resigned_mutations(draw: st.DrawFn) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """A delivery changed in one of the ways an attacker or a buggy sender might, then signed."""
    kind = draw(st.sampled_from(["field", "labels", "nested", "unicode", "form", "not-object"]))
    document: object
    if kind == "field":
        path = draw(st.sampled_from(FIELDS))
        value = draw(st.one_of(json_values, st.just(_DELETE)))
        document = replaced(SAMPLE, path, value)
    elif kind == "labels":
        document = replaced(SAMPLE, ("workflow_job", "labels"), draw(labels))
    elif kind == "nested":
        depth = draw(st.integers(10, 50_000))
        document = {**SAMPLE, "extra": "x"}
        text = json.dumps(document)[:-1] + ', "deep": ' + "[" * depth + "]" * depth + "}"
        return text.encode(), signed(text.encode())
    elif kind == "unicode":
        name = draw(st.text(min_size=1, max_size=40))
        document = replaced(SAMPLE, ("repository", "full_name"), name)
        document["workflow_job"]["name"] = draw(st.text(max_size=200))
    elif kind == "form":
        form = urlencode({"payload": json.dumps(SAMPLE), "x": draw(st.text(max_size=20))})
        return form.encode(), signed(form.encode(), form=True)
    else:
        document = draw(json_values)
    ensure_ascii = draw(st.booleans())
    body = json.dumps(document, ensure_ascii=ensure_ascii).encode()
    event = draw(st.sampled_from([b"workflow_job", b"workflow_job", b"ping", b"push"]))
    return body, signed(body, event=event)


# --- properties ---------------------------------------------------------------------------------


class TestUnsigned:
    @FUZZ
    @given(body=st.binary(max_size=4096), headers=random_headers)
    def test_random_input_is_refused_without_any_call(
        self, edge: Edge, body: bytes, headers: list[tuple[bytes, bytes]]
    ) -> None:
        before = len(edge.upstreams.calls)
        response = edge.post(body, headers)
        check_answer(response)
        assert 400 <= response.status_code < 500
        event(str(response.status_code))
        assert len(edge.upstreams.calls) == before

    @FUZZ
    @given(data=st.data())
    def test_valid_delivery_with_tampered_body_or_signature(
        self, edge: Edge, data: st.DataObject
    ) -> None:
        body = json.dumps(SAMPLE).encode()
        headers = signed(body)
        how = data.draw(
            st.sampled_from(["flip", "truncate", "append", "signature", "extra-header"])
        )
        if how == "flip":
            bit = data.draw(st.integers(0, len(body) * 8 - 1))
            raw = bytearray(body)
            raw[bit // 8] ^= 1 << (bit % 8)
            body = bytes(raw)
        elif how == "truncate":
            body = body[: data.draw(st.integers(0, len(body) - 1))]
        elif how == "append":
            body += data.draw(st.binary(min_size=1, max_size=64))
        elif how == "signature":
            headers = [h for h in headers if h[0] != b"x-hub-signature-256"]
            headers.append((b"x-hub-signature-256", data.draw(garbage_signatures)))
        else:  # a second, wrong signature header or other duplicated headers
            headers.insert(0, (b"x-hub-signature-256", data.draw(garbage_signatures)))
            headers.append(data.draw(st.tuples(header_names, header_bytes)))
        before = len(edge.upstreams.calls)
        response = edge.post(body, headers)
        check_answer(response)
        if how != "extra-header":
            assert response.status_code == 401
        assert len(edge.upstreams.calls) == before or response.status_code == 202


class TestSigned:
    @FUZZ
    @given(delivery=resigned_mutations())
    def test_signed_mutations_get_2xx_or_400(
        self, edge: Edge, delivery: tuple[bytes, list[tuple[bytes, bytes]]]
    ) -> None:
        body, headers = delivery
        before = len(edge.upstreams.calls)
        response = edge.post(body, headers)
        check_answer(response)
        assert response.status_code in (200, 202, 400), response.text
        event(f"{response.status_code} {next(iter(response.json()))}")
        if response.status_code != 202 or "queued" not in response.json():
            assert len(edge.upstreams.calls) == before  # only a queued job reaches upstream
        assert edge.unexpected_worker_errors() == 0

    def test_the_fuzzer_reaches_dispatches(self, edge: Edge) -> None:
        """The properties above mean something: an untouched signed delivery is dispatched."""
        document = replaced(SAMPLE, ("workflow_job", "id"), 99_999_001)
        body = json.dumps(document).encode()
        before = len(edge.upstreams.calls)
        response = edge.post(body, signed(body))
        assert response.status_code == 202 and "queued" in response.json()
        paths = [call.url.path for call in edge.upstreams.calls[before:]]
        assert paths == [
            "/repos/lineville/elastic-machines-testing/actions/runners/generate-jitconfig",
            "/v1/var/nomad/jobs/github-runner/credentials/rod-99999001-1",
            "/v1/job/github-runner/dispatch",
        ]


# --- oversized and slow bodies against a real `rod serve` ---------------------------------------

BODY_TIMEOUT = 1.0
HUGE = 50 * 2**20
CHUNK = 64 * 1024


@dataclass
class Exchange:
    """What one raw HTTP/1.1 exchange did: bytes sent, the answer, whether the server closed."""

    sent: int = 0
    answer: bytes = b""
    closed: bool = False

    @property
    def status(self) -> int:
        return int(self.answer.split(b" ", 2)[1]) if self.answer.startswith(b"HTTP/1.1 ") else 0

    def header(self, name: str) -> str | None:
        head = self.answer.partition(b"\r\n\r\n")[0].decode("latin-1")
        for line in head.split("\r\n")[1:]:
            key, _, value = line.partition(":")
            if key.strip().lower() == name:
                return value.strip()
        return None

    @property
    def body(self) -> bytes:
        return self.answer.partition(b"\r\n\r\n")[2]


def converse(port: int, head: bytes, chunks: Iterator[bytes], pause: float = 0.0) -> Exchange:
    """Send `head`, then `chunks` while the server listens, reading whatever it answers.

    The answer is read after every chunk, before the server's close can turn into a reset that
    would discard it; sending stops at the first sign of a closed connection.
    """
    result = Exchange()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        for chunk in chunks:
            if _read_ready(sock, result, pause):
                break
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                result.closed = True
                break
            result.sent += len(chunk)
        deadline = time.monotonic() + 10  # test-level bound, not a timing assertion
        while not result.closed and time.monotonic() < deadline:
            _read_ready(sock, result, 0.5)
    return result


def _read_ready(sock: socket.socket, result: Exchange, wait: float) -> bool:
    """Read what is there within `wait` seconds; True once the server has closed."""
    while select.select([sock], [], [], wait)[0]:
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            data = b""
        if not data:
            result.closed = True
            return True
        result.answer += data
        wait = 0.0
    return False


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (peak) of a process, in KiB, from /proc/<pid>/status."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """`rod serve` with a 1 s body timeout; GitHub and Nomad at a closed loopback port."""
    config = tmp_path_factory.mktemp("rod") / "rod.toml"
    config.write_text(f"[server]\nbody_timeout_seconds = {BODY_TIMEOUT}\n")
    port, closed = free_port(), free_port()
    env = clean_environment(
        {
            "GITHUB_WEBHOOK_SECRET": SECRET,
            "GITHUB_TOKEN": "ghp_fuzz_token",
            "GITHUB_API_URL": f"http://127.0.0.1:{closed}",
            "NOMAD_ADDR": f"http://127.0.0.1:{closed}",
        }
    )
    command = [*rod_command(), "serve", "--config", str(config), "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--host", "127.0.0.1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(
            "rod serve to listen",
            lambda: httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code,
            lambda status: status == 200,
            timeout=30,
            transient=(httpx.TransportError,),
        )
        yield process, port
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
        assert b"Traceback" not in stderr


def request_head(extra: str) -> bytes:
    return (
        "POST /webhook HTTP/1.1\r\nHost: rod\r\nContent-Type: application/json\r\n"
        f"X-GitHub-Event: workflow_job\r\nX-GitHub-Delivery: d\r\n{extra}\r\n"
    ).encode()


def check_refusal(exchange: Exchange, status: int) -> None:
    assert exchange.status == status, exchange.answer[:200]
    assert exchange.header("connection") == "close"
    body = json.loads(exchange.body)
    assert list(body) == ["error"] and b"\n" not in exchange.body.strip()
    assert exchange.closed


class TestHostileBodiesOnARealServer:
    """The cap and the timeout as a client meets them, with the server's memory watched.

    A client that keeps pushing after the answer may see a reset instead of it: the server
    closes with unread input, and TCP then discards what it still had to send. So the pushed
    cases accept "no answer" (status 0) beside 413; the answer itself is checked where the
    client waits for it (`Expect: 100-continue`, RFC 9110 section 10.1.1).
    """

    def test_declared_50_mib_is_answered_413_before_it_is_sent(
        self, served: tuple[subprocess.Popen[bytes], int]
    ) -> None:
        _, port = served
        head = request_head(f"Content-Length: {HUGE}\r\nExpect: 100-continue\r\n")
        exchange = converse(port, head, iter([]))
        check_refusal(exchange, 413)
        assert exchange.sent == 0 and b"100 Continue" not in exchange.answer

    @pytest.mark.parametrize("framing", [f"Content-Length: {HUGE}", "Transfer-Encoding: chunked"])
    def test_50_mib_pushed_anyway_is_cut_off_at_the_cap(
        self, served: tuple[subprocess.Popen[bytes], int], framing: str
    ) -> None:
        process, port = served
        before = memory_kib(process.pid)
        piece = b"x" * CHUNK
        if framing.startswith("Transfer-Encoding"):
            piece = b"%x\r\n%s\r\n" % (CHUNK, piece)
        chunks = (piece for _ in range(HUGE // CHUNK))
        exchange = converse(port, request_head(f"{framing}\r\n"), chunks)
        assert exchange.closed and exchange.status in (0, 413), exchange.answer[:200]
        assert exchange.sent < 8 * 2**20  # the server closed long before 50 MiB went out
        assert memory_kib(process.pid)["VmHWM"] - before["VmRSS"] < 20 * 1024

    def test_trickled_body_is_cut_off_by_the_body_timeout(
        self, served: tuple[subprocess.Popen[bytes], int]
    ) -> None:
        _, port = served
        # One byte every 50 ms of a 1000-byte body: the whole body would take 50 s.
        exchange = converse(
            port, request_head("Content-Length: 1000\r\n"), iter([b"{"] * 999), 0.05
        )
        check_refusal(exchange, 408)
        assert json.loads(exchange.body) == {
            "error": f"request body not received within {BODY_TIMEOUT:g}s"
        }
        assert exchange.sent < 999
