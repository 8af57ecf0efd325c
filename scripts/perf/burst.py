"""A burst of queued jobs against the GitHub emulator enforcing GitHub's secondary rate limits.

`rod sim github --secondary-limits` (its own process) is rod's GitHub, the stand-ins its Nomad.
Every delivery is acknowledged at once; the figures are the emulator's refusals (403/429), the
runners that never reached Nomad (lost) or reached it twice, and the time from the first
delivery to the last dispatch next to the least the limit allows.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from collections import Counter
from typing import Any

import httpx

from perf.deliveries import repository, runner_name
from perf.load import run_paced
from perf.phases import Options, dispatches, rod_config, stand_ins
from perf.servers import ROOT, TOKEN, Server

# GitHub's documented secondary limit (the emulator's defaults): points per minute per endpoint.
POINTS_PER_MINUTE = 900
JIT_POINTS = 5  # a POST
WINDOW = 60.0
DELIVERY_RATE = 200.0  # the burst arrives over a few seconds


def minimum_seconds(jobs: int) -> float:
    """The least time `jobs` generate-jitconfig calls take under the limit (sliding minute)."""
    per_window = POINTS_PER_MINUTE // JIT_POINTS
    return WINDOW * ((jobs - 1) // per_window)


def _emulator(port: int) -> subprocess.Popen[str]:
    """`rod sim github --secondary-limits` of this checkout (also when measuring other code)."""
    start = "from simulator.github.cli import command; command()"
    command = [sys.executable, "-c", start, "--port", str(port), "--token", TOKEN]
    command += ["--repo", repository(), "--secondary-limits"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, env=env, text=True)


def run(stack: str, options: Options, *, jobs: int) -> dict[str, Any]:
    """The burst; its figures."""
    from simulator.serving import free_port

    port = free_port()
    github = f"http://127.0.0.1:{port}"
    emulator = _emulator(port)
    try:
        _wait(github)
        with stand_ins(options) as nomad:
            args = ["--stack", stack, "--config", str(rod_config(options, "jit"))]
            with Server("rod", *args, "--github", github, "--nomad", nomad) as server:
                server.wait_ready()
                began = time.monotonic()
                run_paced(server.port, rate=DELIVERY_RATE, count=jobs, first=0)
                names = {runner_name(n) for n in range(jobs)}
                deadline = began + 2 * minimum_seconds(jobs) + 180
                seen: dict[str, list[float]] = {}
                while time.monotonic() < deadline:
                    seen = dispatches(nomad)
                    if names <= seen.keys():
                        break
                    time.sleep(1.0)
                refused = Counter(
                    r["status"]
                    for r in httpx.get(f"{github}/_sim/requests", timeout=30).json()
                    if r["status"] in (403, 429)
                )
                made = httpx.get(f"{github}/_sim/state", timeout=30).json()["runners"]
    finally:
        emulator.terminate()
        emulator.wait(timeout=30)
    last = max((t for times in seen.values() for t in times), default=began)
    return {
        "jobs": jobs,
        "refused": dict(refused),
        "lost": len(names - seen.keys()),
        "duplicates": sum(len(times) - 1 for times in seen.values())
        + max(0, len(made) - len(names)),
        "seconds": last - began,
        "minimum": minimum_seconds(jobs),
    }


def _wait(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/_sim/state", timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit("bench: the GitHub emulator did not start")


def describe(figures: dict[str, Any]) -> str:
    """One table cell."""
    refused = sum(figures["refused"].values())
    over = figures["seconds"] / figures["minimum"] - 1 if figures["minimum"] else math.nan
    return (
        f"{refused} rate-limit refusals, {figures['lost']} lost, {figures['duplicates']}"
        f" duplicates; {figures['seconds']:.0f} s vs the limit's least {figures['minimum']:.0f} s"
        f" ({over:+.0%})"
    )
