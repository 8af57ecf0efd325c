"""Load clients: wrk (closed loop, for throughput) and a paced keep-alive client (for latency).

The paced client runs in a process of its own (`bench_perf.py _load ...`): it sends delivery
`first + i` at `start + i / rate` over a pool of keep-alive connections (opening another only
when every open one is busy) and times each answer from the moment it was due, so a stalled
server cannot hide its stall by slowing the sender down (no coordinated omission). Answers are
parsed with h11. Its output is one JSON document on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h11

from perf.deliveries import SECRET, job_id, raw_request

WRK_SCRIPT = """
local requests, count, i = {}, 0, 0
for line in io.lines(os.getenv("BENCH_REQUESTS")) do
  local id, signature, body = line:match("^([^\\t]*)\\t([^\\t]*)\\t(.*)$")
  count = count + 1
  requests[count] = wrk.format("POST", "/webhook", {
    ["Content-Type"] = "application/json", ["User-Agent"] = "GitHub-Hookshot/perf",
    ["X-GitHub-Event"] = "workflow_job", ["X-GitHub-Delivery"] = id,
    ["X-GitHub-Hook-ID"] = "1", ["X-Hub-Signature-256"] = signature,
    ["Host"] = os.getenv("BENCH_HOST")}, body)
end
request = function()
  i = i % count + 1
  return requests[i]
end
"""


def write_wrk_requests(path: Path, first: int, count: int) -> None:
    """`count` deliveries for the wrk script, one per line: GUID, signature, body."""
    from perf.deliveries import delivery

    with path.open("wb") as out:
        for n in range(first, first + count):
            body, headers = delivery(n)
            head = f"{headers['X-GitHub-Delivery']}\t{headers['X-Hub-Signature-256']}\t"
            out.write(head.encode() + body + b"\n")


def wrk(
    url: str,
    requests: Path,
    *,
    seconds: float,
    connections: int,
    connected: Callable[[], None] | None = None,
) -> dict[str, float]:
    """Run wrk (one thread) against `url`/webhook; requests per second and non-2xx answers.

    `connected` is called once wrk, its requests read, has opened a connection: the kernel
    completes it in the listen backlog even while the server is paused (SIGSTOP).
    """
    script = requests.with_suffix(".lua")
    script.write_text(WRK_SCRIPT)
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "-s", str(script), url]
    environment = {"BENCH_REQUESTS": str(requests), "BENCH_HOST": url.split("://")[1]}
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment
    ) as running:
        if connected is not None:
            port = int(url.rsplit(":", 1)[1])
            while running.poll() is None and not _established(port):
                time.sleep(0.002)
            connected()
        stdout, stderr = running.communicate()
    if running.returncode or stderr.strip():
        raise SystemExit(f"bench: wrk: {stderr.strip() or f'exit status {running.returncode}'}")
    rate = re.search(r"Requests/sec:\s+([\d.]+)", stdout)
    total = re.search(r"(\d+) requests in", stdout)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", stdout)
    if rate is None or total is None:
        raise SystemExit(f"bench: cannot read wrk's output:\n{stdout}{stderr}")
    return {
        "rate": float(rate.group(1)),
        "requests": float(total.group(1)),
        "non_2xx": float(bad.group(1)) if bad else 0.0,
    }


def _established(port: int) -> bool:
    """Whether a TCP connection to 127.0.0.1:`port` is established (/proc/net/tcp, state 01)."""
    local = f"0100007F:{port:04X}"
    with open("/proc/net/tcp") as table:
        return any(
            fields[1] == local and fields[3] == "01" for fields in (line.split() for line in table)
        )


def have_wrk() -> bool:
    """Whether wrk is on PATH (Debian: apt-get install wrk)."""
    return shutil.which("wrk") is not None


class _Connection:
    """One keep-alive connection and its h11 state."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.h11 = h11.Connection(h11.CLIENT)

    async def exchange(self, request: bytes) -> int:
        """Send raw request bytes, read the whole answer; its status."""
        # h11 must see the request to expect a response: hand it the head, send our own bytes.
        head, _, body = request.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        headers = [tuple(line.split(b": ", 1)) for line in lines[1:]]
        self.h11.send(h11.Request(method="POST", target="/webhook", headers=headers))
        self.h11.send(h11.Data(data=body))
        self.h11.send(h11.EndOfMessage())
        self.writer.write(request)
        status = 0
        while True:
            event = self.h11.next_event()
            if event is h11.NEED_DATA:
                self.h11.receive_data(await self.reader.read(65536))
                continue
            if isinstance(event, h11.Response):
                status = event.status_code
            if isinstance(event, h11.EndOfMessage):
                self.h11.start_next_cycle()
                return status
            if isinstance(event, h11.ConnectionClosed):
                raise ConnectionError("server closed the connection")


async def paced(
    host: str, port: int, *, rate: float, count: int, first: int, max_connections: int
) -> dict[str, Any]:
    """Send `count` deliveries at `rate` per second; latencies from each request's due time."""
    idle: list[_Connection] = []
    opened = reopened = 0
    latencies: list[float] = []
    sent: dict[int, float] = {}
    statuses: dict[int, int] = {}
    slots = asyncio.Semaphore(max_connections)

    async def fresh() -> _Connection:
        nonlocal opened
        opened += 1
        return _Connection(*await asyncio.open_connection(host, port))

    async def one(i: int, due: float) -> None:
        nonlocal reopened
        request = raw_request(first + i, f"{host}:{port}", SECRET)
        async with slots:
            connection = idle.pop() if idle else await fresh()
            sent[job_id(first + i)] = time.monotonic()
            try:
                status = await connection.exchange(request)
            except (ConnectionError, h11.ProtocolError):
                # The server closed it while it sat idle (uvicorn's keep-alive timeout): as any
                # HTTP client does, send again on a new connection.
                connection.writer.close()
                reopened += 1
                connection = await fresh()
                status = await connection.exchange(request)
            latencies.append(time.monotonic() - due)
            statuses[status] = statuses.get(status, 0) + 1
            idle.append(connection)

    tasks = []
    start = time.monotonic() + 0.2
    for i in range(count):
        due = start + i / rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, due)))
    await asyncio.gather(*tasks)
    wall = time.monotonic() - start
    for connection in idle:
        connection.writer.close()
    return {
        "latencies_ms": [value * 1000 for value in latencies],
        "statuses": statuses,
        "sent": sent,
        "wall": wall,
        "connections": opened,
        "reopened": reopened,
    }


def load(argv: list[str]) -> None:
    """The `_load` subcommand: a paced run, its figures as JSON on stdout."""
    parser = argparse.ArgumentParser(prog="bench_perf.py _load")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--connections", type=int, default=256)
    args = parser.parse_args(argv)
    try:
        import uvloop

        run = uvloop.run
    except ImportError:
        run = asyncio.run
    result = run(
        paced(
            "127.0.0.1",
            args.port,
            rate=args.rate,
            count=args.count,
            first=args.first,
            max_connections=args.connections,
        )
    )
    json.dump(result, sys.stdout)


def run_paced(port: int, *, rate: float, count: int, first: int) -> dict[str, Any]:
    """Run the paced client in its own process; its figures."""
    from perf.servers import SCRIPT

    command = [sys.executable, str(SCRIPT), "_load", "--port", str(port)]
    command += ["--rate", str(rate), "--count", str(count), "--first", str(first)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"bench: the paced client failed:\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    result["sent"] = {int(k): v for k, v in result["sent"].items()}
    return result
