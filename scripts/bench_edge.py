"""The HTTP edge under idle, slow and oversized connections: do signed deliveries still get in?

Usage: python scripts/bench_edge.py [--parser h11|httptools] [--idle 6000] [--slow 300]
                                    [--deliveries 100] [--huge 4] [--huge-mb 60] [--rod-fds 4096]

Starts `rod serve` as a real process whose open-file limit is --rod-fds (a container's ulimit;
GitHub and Nomad point at closed ports: a signed ping needs neither), then, one phase at a time:
- idle: opens --idle connections that send nothing, then sends --deliveries signed pings, each on
  a fresh connection with GitHub's 10 s timeout;
- slowloris: --slow connections each send a request head one byte a second, and the pings again;
- huge: --huge connections each send a --huge-mb MB header as fast as they can.
Per phase it prints the pings answered 200 (and the failures), how many connections rod holds
(its socket file descriptors) at the end, and its resident memory (VmRSS, and the peak VmHWM).
Figures only; nothing is asserted. Without --parser, `rod serve` picks as uvicorn does (httptools
when installed), which is also how an older `rod serve` without the [server] settings is run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from simulator.harness.dispatcher import clean_environment, rod_command
from simulator.serving import free_port

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-edge-secret"
PING = b'{"zen": "Design for failure."}'
GITHUB_TIMEOUT = 10.0  # GitHub gives a delivery 10 s


@dataclass
class Phase:
    """What one phase measured."""

    name: str
    answered: int = 0
    failed: dict[str, int] = field(default_factory=dict)
    slowest: float = 0.0
    during: int = 0  # sockets rod holds while the load is on
    held: int = 0  # ... and --settle seconds later
    rss_mb: float = 0.0
    peak_mb: float = 0.0
    note: str = ""


def memory(pid: int) -> tuple[float, float]:
    """VmRSS and VmHWM of `pid`, in MB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) / 1024
    return fields["VmRSS"], fields["VmHWM"]


def sockets(pid: int) -> int:
    """How many sockets `pid` holds open (its listening socket included)."""
    fd_dir = Path(f"/proc/{pid}/fd")
    count = 0
    for fd in fd_dir.iterdir():
        with contextlib.suppress(OSError):  # closed meanwhile
            count += os.readlink(fd).startswith("socket:")
    return count


async def pings(port: int, count: int, phase: Phase) -> None:
    """`count` signed pings, each on a fresh connection, one after the other."""
    signature = "sha256=" + hmac.new(SECRET.encode(), PING, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json", "X-GitHub-Event": "ping",
               "X-Hub-Signature-256": signature}  # fmt: skip
    limits = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=GITHUB_TIMEOUT, limits=limits) as client:
        for n in range(count):
            started = time.monotonic()
            try:
                answer = await client.post(
                    f"http://127.0.0.1:{port}/webhook",
                    content=PING,
                    headers={**headers, "X-GitHub-Delivery": f"edge-{phase.name}-{n}"},
                )
                outcome = "200" if answer.status_code == 200 else str(answer.status_code)
            except httpx.HTTPError as error:
                outcome = type(error).__name__
            phase.slowest = max(phase.slowest, time.monotonic() - started)
            if outcome == "200":
                phase.answered += 1
            else:
                phase.failed[outcome] = phase.failed.get(outcome, 0) + 1


async def open_idle(port: int, count: int) -> list[asyncio.StreamWriter]:
    """`count` connections that never send a byte (as many as the server accepts)."""
    writers = []
    for _ in range(count):
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 2)
        except (OSError, TimeoutError):
            break
        writers.append(writer)
    return writers


async def slowloris(port: int, stop: asyncio.Event) -> None:
    """One connection sending a request head one byte a second until `stop` (or closed)."""
    head = b"POST /webhook HTTP/1.1\r\nHost: rod\r\nX-Slow: " + b"a" * 4000
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return
    try:
        for byte in head:
            if stop.is_set() or reader.at_eof():
                break
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(1.0)
    except OSError:
        pass  # closed by the server
    finally:
        writer.close()


async def huge_header(port: int, megabytes: int) -> str:
    """Send a header of `megabytes` MB; what came back (the status line), or how it ended."""
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError as error:
        return type(error).__name__
    try:
        writer.write(b"POST /webhook HTTP/1.1\r\nHost: rod\r\nX-Huge: ")
        chunk = b"a" * 2**20
        for _ in range(megabytes):
            writer.write(chunk)
            await writer.drain()
        writer.write(b"\r\n\r\n")
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), GITHUB_TIMEOUT)
        return line.decode(errors="replace").strip() or "closed"
    except (OSError, TimeoutError) as error:
        try:
            line = await asyncio.wait_for(reader.readline(), 1.0)
            return line.decode(errors="replace").strip() or type(error).__name__
        except (OSError, TimeoutError):
            return type(error).__name__
    finally:
        writer.close()


async def run(args: argparse.Namespace, pid: int, port: int) -> list[Phase]:
    """The three phases against the running `rod serve`."""
    phases = []
    idle = Phase("idle")
    writers = await open_idle(port, args.idle)
    idle.note = f"{len(writers)} idle connections opened"
    idle.during = sockets(pid)
    await pings(port, args.deliveries, idle)
    await asyncio.sleep(args.settle)
    idle.held = sockets(pid)
    idle.rss_mb, idle.peak_mb = memory(pid)
    phases.append(idle)
    for writer in writers:
        writer.close()

    slow = Phase("slowloris")
    stop = asyncio.Event()
    lorises = [asyncio.create_task(slowloris(port, stop)) for _ in range(args.slow)]
    await asyncio.sleep(2.0)
    slow.during = sockets(pid)
    await pings(port, args.deliveries, slow)
    await asyncio.sleep(args.settle)
    slow.held = sockets(pid)
    slow.rss_mb, slow.peak_mb = memory(pid)
    slow.note = f"{args.slow} connections sending a head at 1 byte/s"
    stop.set()
    await asyncio.gather(*lorises)
    phases.append(slow)

    huge = Phase("huge headers")
    ends = await asyncio.gather(*(huge_header(port, args.huge_mb) for _ in range(args.huge)))
    await pings(port, args.deliveries, huge)
    huge.during = huge.held = sockets(pid)
    huge.rss_mb, huge.peak_mb = memory(pid)
    huge.note = f"{args.huge} x {args.huge_mb} MB headers: " + ", ".join(sorted(set(ends)))
    phases.append(huge)
    return phases


def start_rod(args: argparse.Namespace, workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    """`rod serve` with its open-file limit lowered to --rod-fds; wait until it answers."""
    port, closed = free_port(), free_port()
    config = workdir / "rod.toml"
    config.write_text(f'[server]\nhttp = "{args.parser}"\n' if args.parser else "")
    env = clean_environment(
        {
            "GITHUB_WEBHOOK_SECRET": SECRET,
            "GITHUB_TOKEN": "ghp_bench_edge",
            "GITHUB_API_URL": f"http://127.0.0.1:{closed}",
            "NOMAD_ADDR": f"http://127.0.0.1:{closed}",
        }
    )

    def limit_files() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (args.rod_fds, args.rod_fds))

    command = [*rod_command(), "serve", "--config", str(config), "--host", "127.0.0.1",
               "--port", str(port), "--log-level", "warning"]  # fmt: skip
    with (workdir / "rod-serve.log").open("wb") as log:
        process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=limit_files
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return process, port
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"rod serve did not start; log: {workdir / 'rod-serve.log'}")


def report(args: argparse.Namespace, phases: list[Phase], baseline: tuple[float, float]) -> Table:
    """The figures as a table."""
    table = Table(title=f"rod serve edge, parser {args.parser or 'auto'}, {args.rod_fds} fds")
    for column in ("phase", "load", "pings 200", "failures", "slowest ping",
                   "sockets rod holds: during / after", "RSS / peak MB"):  # fmt: skip
        table.add_column(column)
    table.add_row("start", "-", "-", "-", "-", "-", f"{baseline[0]:.0f} / {baseline[1]:.0f}")
    for phase in phases:
        failures = ", ".join(f"{n} {kind}" for kind, n in sorted(phase.failed.items())) or "0"
        table.add_row(
            phase.name,
            phase.note,
            f"{phase.answered} / {args.deliveries}",
            failures,
            f"{phase.slowest:.2f} s",
            f"{phase.during} / {phase.held}",
            f"{phase.rss_mb:.0f} / {phase.peak_mb:.0f}",
        )
    return table


def parse(argv: list[str]) -> argparse.Namespace:
    """Options, refused in one line when they cannot work."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parser", choices=("h11", "httptools"), help="[server] http of rod")
    parser.add_argument("--idle", type=int, default=6000, help="idle connections")
    parser.add_argument("--slow", type=int, default=300, help="slow-head connections")
    parser.add_argument("--deliveries", type=int, default=100, help="signed pings per phase")
    parser.add_argument("--huge", type=int, default=4, help="connections with a huge header")
    parser.add_argument("--huge-mb", type=int, default=60, help="size of each huge header")
    parser.add_argument("--rod-fds", type=int, default=4096, help="rod serve's open-file limit")
    parser.add_argument("--settle", type=float, default=12.0, help="seconds before counting")
    args = parser.parse_args(argv)
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if args.idle + 200 > hard:
        parser.error(f"--idle needs {args.idle + 200} open files; the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if min(args.idle, args.slow, args.deliveries, args.huge, args.huge_mb) < 0:
        parser.error("counts must not be negative")
    return args


def main(argv: list[str] | None = None) -> None:
    """Run the phases and print the command line and the figures."""
    args = parse(sys.argv[1:] if argv is None else argv)
    console = Console(width=160)
    console.print(f"$ {shlex.join(['python', 'scripts/bench_edge.py', *sys.argv[1:]])}")
    (ROOT / "build").mkdir(exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="bench-edge-", dir=ROOT / "build"))
    process, port = start_rod(args, workdir)
    try:
        baseline = memory(process.pid)
        phases = asyncio.run(run(args, process.pid, port))
    finally:
        process.terminate()
        process.wait(30)
    console.print(report(args, phases, baseline))
    console.print(f"rod serve log: {workdir / 'rod-serve.log'}")


if __name__ == "__main__":
    main()
