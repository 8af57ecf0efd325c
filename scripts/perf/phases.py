"""The measurements of scripts/bench_perf.py, one function each; figures only, nothing asserted."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from perf.deliveries import SECRET, delivery, runner_name
from perf.figures import percentile
from perf.load import run_paced, wrk
from perf.servers import SCRIPT, STACKS, Server
from simulator.harness.dispatcher import metric

# rod's settings in every run: a queue deep enough that no delivery is refused as FULL (a 503
# is cheaper than a dispatch and would flatter the figures), and a stop that does not wait out
# the backlog a flood leaves (every phase that counts dispatches waits for them first); the rest
# are the defaults. The credential mode is registration-token but in the burst: one token,
# reused while valid, so the stand-ins' instant answers are not paced to GitHub's 180 JIT
# configs a minute (the burst measures that limit on the emulator) and the other phases measure
# rod's own costs: per job a Variable and a dispatch.
ROD_CONFIG = (
    'credential_mode = "{mode}"\n[server]\nqueue_size = 1000000\nshutdown_grace_seconds = 1.0\n'
)


def rod_config(options: Options, mode: str = "registration-token") -> Path:
    """The `rod serve --config` file of a run (`mode`: its credential mode)."""
    config = options.workdir / f"rod-{mode}.toml"
    config.write_text(ROD_CONFIG.format(mode=mode))
    return config


# The stand-in process's niceness. It stands for GitHub and Nomad, which run on other machines:
# at 0 it takes the CPU rod's serving process needs, on these same two cores.
STANDINS_NICE = 10


@dataclass(frozen=True)
class Options:
    """What every phase needs to know."""

    upstreams: str  # "loopback" (a stand-in server process) or "mock" (in rod's process)
    workdir: Path
    standins_nice: int = STANDINS_NICE


@contextlib.contextmanager
def rod(stack: str, options: Options, *, gated: bool = False) -> Iterator[tuple[Server, str]]:
    """rod on `stack` with its stand-ins; the rod server and the URL that lists dispatches."""
    args = ["--stack", stack, "--config", str(rod_config(options))]
    if options.upstreams == "mock":
        with Server("rod", *args, env={"BENCH_GATED": str(int(gated))}) as server:
            yield server.wait_ready(), server.url
        return
    with stand_ins(options, gated=gated) as upstream:
        urls = ["--github", upstream, "--nomad", upstream]
        with Server("rod", *args, *urls) as server:
            yield server.wait_ready(), upstream


@contextlib.contextmanager
def stand_ins(options: Options, *, gated: bool = False) -> Iterator[str]:
    """The stand-in server process (uvloop + httptools where installed); its URL."""
    args = ["--stack", "fast" if stack_available("fast") else "plain"]
    args += ["--nice", str(options.standins_nice), *(["--gated"] if gated else [])]
    with Server("standins", *args) as upstream:
        yield upstream.wait_ready("/_bench/dispatches").url


def stack_available(stack: str) -> bool:
    """Whether uvicorn can run `stack` here (uvloop and httptools installed)."""
    loop, http = STACKS[stack]
    modules = [m for m in (loop, http) if m not in ("asyncio", "h11")]
    check = "import " + ", ".join(modules) if modules else "pass"
    return subprocess.run([sys.executable, "-c", check], capture_output=True).returncode == 0


def dispatches(url: str) -> dict[str, list[float]]:
    """Runner name -> the times its Nomad dispatch arrived, from the stand-ins."""
    answer: dict[str, list[float]] = httpx.get(f"{url}/_bench/dispatches", timeout=30).json()
    return answer


def wait_dispatched(url: str, names: set[str], timeout: float) -> dict[str, list[float]]:
    """Poll until every name has reached the Nomad stand-in (or `timeout` passes)."""
    deadline = time.monotonic() + timeout
    while True:
        seen = dispatches(url)
        if names <= seen.keys() or time.monotonic() > deadline:
            return seen
        time.sleep(0.5)


def duplicates_answered(server: Server) -> int:
    """How many deliveries rod answered as duplicates (its own metric)."""
    text = httpx.get(f"{server.url}/metrics", timeout=30).text
    return int(metric(text, "rod_webhooks_total", event="workflow_job", outcome="duplicate"))


def in_process(repeat: int, iterations: int = 3000) -> dict[str, list[float]]:
    """Microseconds per delivery: parse + decide, and the HMAC-SHA256 + json.loads floor."""
    from starlette.datastructures import Headers

    from runners_on_demand.decision import Policy, decide
    from runners_on_demand.delivery import parse_delivery

    body, plain = delivery(1)
    headers = Headers(raw=[(k.lower().encode(), v.encode()) for k, v in plain.items()])
    policy = Policy()
    figures: dict[str, list[float]] = {"rod": [], "floor": []}
    for _ in range(repeat):
        started = time.perf_counter()
        for _ in range(iterations):
            decide(parse_delivery(headers, body, secret=SECRET), policy)  # type: ignore[arg-type]
        figures["rod"].append((time.perf_counter() - started) / iterations * 1e6)
        started = time.perf_counter()
        for _ in range(iterations):
            hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            json.loads(body)
        figures["floor"].append((time.perf_counter() - started) / iterations * 1e6)
    return figures


def _order(rep: int, sides: tuple[str, ...] = ("bare", "rod")) -> tuple[str, ...]:
    """The order `sides` run in, in repetition `rep`: each goes first in turn."""
    turn = rep % len(sides)
    return sides[turn:] + sides[:turn]


@contextlib.contextmanager
def _serving(what: str, stack: str, options: Options) -> Iterator[tuple[Server, str | None]]:
    """The bare or signed app, or rod with its stand-ins, on `stack`; the server, and for rod
    the URL that lists dispatches."""
    if what != "rod":
        with Server(what, "--stack", stack) as server:
            yield server.wait_ready(), None
        return
    with rod(stack, options) as (server, listing):
        yield server, listing


def throughput(
    stack: str,
    options: Options,
    slices: list[Path],
    *,
    seconds: float,
    connections: int,
    rep: int,
) -> dict[str, dict[str, float]]:
    """wrk against the bare app, the signed app and rod on `stack`, all started at once and
    measured in turn, `seconds` of wrk per slice file (distinct deliveries each), each side
    first in turn. A server not measured is paused (SIGSTOP; rod's dispatch process finishes
    the few runners in hand, then waits), so none works in another's time, and every side
    meets the machine as it is in that minute."""
    sides = _order(rep, ("bare", "signed", "rod"))
    totals = {
        what: dict.fromkeys(("requests", "seconds", "non_2xx", "cpu", "pages"), 0.0)
        for what in sides
    }
    with contextlib.ExitStack() as started:
        servers: dict[str, Server] = {}
        for what in sides:
            servers[what], _ = started.enter_context(_serving(what, stack, options))
            servers[what].pause()
        for n, requests in enumerate(slices):
            for what in _order(n, sides):
                server, total = servers[what], totals[what]
                cpu, pages = server.cpu_seconds(), server.minor_faults()
                # resumed once wrk has read its requests and connects: not while it reads
                done = wrk(
                    server.url,
                    requests,
                    seconds=seconds,
                    connections=connections,
                    connected=server.resume,
                )
                server.pause()
                total["cpu"] += server.cpu_seconds() - cpu
                total["pages"] += server.minor_faults() - pages
                total["requests"] += done["requests"]
                total["seconds"] += done["requests"] / done["rate"] if done["rate"] else seconds
                total["non_2xx"] += done["non_2xx"]
        out: dict[str, dict[str, float]] = {}
        for what, total in totals.items():
            served = max(total["requests"], 1)
            out[what] = {
                "rate": total["requests"] / total["seconds"],
                "requests": total["requests"],
                "non_2xx": total["non_2xx"],
                "cpu_ms": total["cpu"] * 1000 / served,
                "new_pages": total["pages"] / served,
            }
        servers["rod"].resume()
        out["rod"]["duplicates"] = duplicates_answered(servers["rod"])
    return out


def acknowledge(
    stack: str, options: Options, *, rate: float, seconds: float, rep: int
) -> dict[str, Any]:
    """Time to acknowledge at `rate` deliveries per second: the bare app and rod (dispatching),
    in alternating order per repetition."""
    count = int(rate * seconds)
    out: dict[str, Any] = {}
    for what in _order(rep):
        with _serving(what, stack, options) as (server, listing):
            began = time.monotonic()
            result = run_paced(server.port, rate=rate, count=count, first=0)
            ended = time.monotonic()
            out[what] = _latency(result)
            if listing is not None:
                made = [t for times in dispatches(listing).values() for t in times]
                out[what]["dispatched_during"] = sum(1 for t in made if began <= t <= ended)
                out[what]["own"] = own_acknowledgements(server)
    return out


def own_acknowledgements(server: Server) -> dict[str, float]:
    """The share of deliveries rod itself acknowledged within 1 ms and within 10 ms, from the
    moment it has a request to its answer (`rod_webhook_ack_seconds`); the rest of a client's
    wait is the sockets' and the scheduler's."""
    text = httpx.get(f"{server.url}/metrics", timeout=30).text
    bucket = {le: metric(text, "rod_webhook_ack_seconds_bucket", le=le) for le in ("0.001", "0.01")}
    total = metric(text, "rod_webhook_ack_seconds_count") or 1.0
    return {"within_1ms": bucket["0.001"] / total, "within_10ms": bucket["0.01"] / total}


def _latency(result: dict[str, Any]) -> dict[str, Any]:
    values = result["latencies_ms"]
    return {
        "p50": percentile(values, 0.50),
        "p99": percentile(values, 0.99),
        "max": max(values),
        "statuses": result["statuses"],
        "connections": result["connections"],
    }


def to_dispatch(stack: str, options: Options, *, rate: float, seconds: float) -> dict[str, Any]:
    """Delivery sent -> Nomad dispatch arrived, per job, at a steady `rate`."""
    count = int(rate * seconds)
    with rod(stack, options) as (server, listing):
        result = run_paced(server.port, rate=rate, count=count, first=0)
        names = {runner_name(n): n for n in range(count)}
        seen = wait_dispatched(listing, set(names), timeout=120)
    waits = [
        (min(seen[name]) - result["sent"][int(name.split("-")[1])]) * 1000
        for name in names
        if name in seen
    ]
    return {
        "p50": percentile(waits, 0.50),
        "p95": percentile(waits, 0.95),
        "dispatched": len(waits),
        "count": count,
    }


def outbound(stack: str, options: Options, *, jobs: int) -> dict[str, Any]:
    """Dispatches per second: `jobs` queued behind a closed Nomad gate, then drained alone."""
    with rod(stack, options, gated=True) as (server, listing):
        run_paced(server.port, rate=1000, count=jobs, first=0)
        cpu = server.cpu_seconds()
        opened = time.monotonic()
        httpx.post(f"{listing}/_bench/open", timeout=30)
        seen = wait_dispatched(listing, {runner_name(n) for n in range(jobs)}, timeout=600)
        cpu = server.cpu_seconds() - cpu
    last = max(t for times in seen.values() for t in times)
    return {
        "rate": len(seen) / (last - opened),
        "cpu_ms": cpu * 1000 / max(len(seen), 1),
        "dispatched": len(seen),
        "jobs": jobs,
    }


def memory(stack: str, options: Options, *, count: int, rate: float) -> dict[str, Any]:
    """rod's RSS and PSS (its processes summed) when ready, after `count` deliveries, and once
    their dispatches are done."""
    with rod(stack, options) as (server, listing):
        ready = (server.rss_mb(), server.pss_mb())
        run_paced(server.port, rate=rate, count=count, first=0)
        acknowledged = (server.rss_mb(), server.pss_mb())
        wait_dispatched(listing, {runner_name(n) for n in range(count)}, timeout=900)
        time.sleep(1.0)
        drained = (server.rss_mb(), server.pss_mb())
        each = server.rss_each_mb()
        return {
            "processes": len(each),
            "each_drained": each,
            **_sizes(ready, acknowledged, drained),
        }


def _sizes(*measured: tuple[float, float]) -> dict[str, float]:
    """{"ready": rss, "ready_pss": pss, ...} for (ready, acknowledged, drained)."""
    out: dict[str, float] = {}
    for name, (rss, pss) in zip(("ready", "acknowledged", "drained"), measured, strict=True):
        out[name], out[f"{name}_pss"] = rss, pss
    return out


def soak(stack: str, options: Options, *, rate: float, seconds: float) -> dict[str, Any]:
    """rod's RSS (its processes summed) every 5 s while deliveries arrive at `rate`."""
    count = int(rate * seconds)
    samples: list[tuple[float, float]] = []
    with rod(stack, options) as (server, _):
        command = [sys.executable, str(SCRIPT), "_load", "--port", str(server.port)]
        command += ["--rate", str(rate), "--count", str(count)]
        client = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        began = time.monotonic()
        stop = threading.Event()
        while client.poll() is None:
            samples.append((time.monotonic() - began, server.rss_mb()))
            stop.wait(5.0)
        samples.append((time.monotonic() - began, server.rss_mb()))
        server_pss = server.pss_mb()
    minute = min(60.0, seconds / 4)
    end, half = samples[-1][0], samples[-1][0] / 2

    def mean(since: float, until: float) -> float:
        window = [rss for t, rss in samples if since <= t <= until]
        return sum(window) / len(window)

    return {
        "seconds": seconds,
        "first": mean(0, minute),
        # at 50/s for 600 s, the duplicate filters (`dedup_size`: 10,000) are full by then
        "half": mean(half - minute, half),
        "last": mean(end - minute, end),
        "max": max(rss for _, rss in samples),
        "pss_last": server_pss,
        "window": minute,
        "samples": [(round(t), round(rss, 1)) for t, rss in samples],
    }
