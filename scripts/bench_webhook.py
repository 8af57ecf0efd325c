"""Time-to-acknowledge and throughput of `rod serve`, over real HTTP on loopback.

Usage: python scripts/bench_webhook.py [--deliveries 2000] [--concurrency 32] [--workers 4]

Starts two tiny local stubs (GitHub's generate-jitconfig and Nomad's dispatch, answering at once),
a real `rod serve` process (uvicorn) pointed at them, then sends N distinct signed `queued`
workflow_job deliveries with C in flight. Prints p50/p90/p99/max time-to-acknowledge as the
sender sees it, the webhook throughput, and how long until every dispatch reached the Nomad stub.
Figures only; nothing is asserted. Every socket is on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from simulator.serving import ServerThread, free_port

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "tests" / "samples" / "workflow_job" / "06.queued.json"
SECRET = "bench-secret"


class Stubs:
    """GitHub and Nomad endpoints that answer immediately and count dispatches."""

    def __init__(self) -> None:
        self.dispatches = 0
        self.github = Starlette(
            routes=[
                Route(
                    "/repos/{o}/{r}/actions/runners/generate-jitconfig", self.jit, methods=["POST"]
                ),
                Route("/rate_limit", self.ok, methods=["GET"]),
            ]
        )
        self.nomad = Starlette(
            routes=[
                Route("/v1/job/{job}/dispatch", self.dispatch, methods=["POST"]),
                Route("/v1/agent/health", self.ok, methods=["GET"]),
            ]
        )

    async def ok(self, request: Request) -> JSONResponse:
        return JSONResponse({})

    async def jit(self, request: Request) -> JSONResponse:
        body = await request.json()
        return JSONResponse(
            {"runner": {"id": 1, "name": body["name"]}, "encoded_jit_config": "e30="}, 201
        )

    async def dispatch(self, request: Request) -> JSONResponse:
        self.dispatches += 1
        job = request.path_params["job"]
        return JSONResponse({"DispatchedJobID": f"{job}/dispatch-{self.dispatches}", "EvalID": "e"})


def deliveries(count: int) -> list[tuple[bytes, dict[str, str]]]:
    """`count` distinct signed queued deliveries (distinct job ids and delivery ids)."""
    template = json.loads(SAMPLE.read_text())
    template["workflow_job"]["status"] = "queued"  # approved: the example awaits approval
    out = []
    for n in range(count):
        template["workflow_job"]["id"] = 10_000_000 + n
        body = json.dumps(template).encode()
        signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        headers = {
            "Content-Type": "application/json",
            "X-GitHub-Event": "workflow_job",
            "X-GitHub-Delivery": f"bench-{n}",
            "X-GitHub-Hook-ID": "1",
            "X-Hub-Signature-256": signature,
        }
        out.append((body, headers))
    return out


async def send_all(
    url: str, items: list[tuple[bytes, dict[str, str]]], concurrency: int
) -> tuple[list[float], dict[int, int], float]:
    """Send every delivery with `concurrency` in flight; latencies, status counts, wall time."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    queue: asyncio.Queue[tuple[bytes, dict[str, str]]] = asyncio.Queue()
    for item in items:
        queue.put_nowait(item)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def sender(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            body, headers = queue.get_nowait()
            started = time.perf_counter()
            response = await client.post(f"{url}/webhook", content=body, headers=headers)
            latencies.append(time.perf_counter() - started)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        started = time.perf_counter()
        await asyncio.gather(*(sender(client) for _ in range(concurrency)))
        return latencies, statuses, time.perf_counter() - started


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()

    stubs = Stubs()
    with ServerThread(stubs.github) as github, ServerThread(stubs.nomad) as nomad:
        port = free_port()
        config = Path(os.environ.get("TMPDIR", "/tmp")) / f"rod-bench-{os.getpid()}.toml"
        config.write_text(
            f"[server]\nworkers = {args.workers}\nqueue_size = {args.deliveries + 10}\n"
            f"dedup_size = {args.deliveries + 10}\n"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "NOMAD_"))}
        env |= {
            "GITHUB_WEBHOOK_SECRET": SECRET,
            "GITHUB_TOKEN": "bench-token",
            "GITHUB_API_URL": github.url,
            "NOMAD_ADDR": nomad.url,
        }
        rod = ROOT / ".venv" / "bin" / "rod"
        command = [str(rod) if rod.exists() else "rod", "serve", "--config", str(config)]
        command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
        process = subprocess.Popen(command, env=env)
        url = f"http://127.0.0.1:{port}"
        try:
            while True:
                try:
                    if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if process.poll() is not None:
                    sys.exit("rod serve exited before it was ready")
                time.sleep(0.1)
            items = deliveries(args.deliveries)
            sent_at = time.perf_counter()
            latencies, statuses, wall = asyncio.run(send_all(url, items, args.concurrency))
            while stubs.dispatches < statuses.get(202, 0) and time.perf_counter() - sent_at < 120:
                time.sleep(0.01)
            drained = time.perf_counter() - sent_at
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
            config.unlink(missing_ok=True)

    ms = [v * 1000 for v in latencies]
    print(
        f"deliveries        {len(latencies)} "
        f"(concurrency {args.concurrency}, workers {args.workers})"
    )
    print(f"status codes      {dict(sorted(statuses.items()))}")
    print(
        f"time-to-ack ms    p50 {percentile(ms, 0.50):.2f}  p90 {percentile(ms, 0.90):.2f}  "
        f"p99 {percentile(ms, 0.99):.2f}  max {max(ms):.2f}  mean {statistics.fmean(ms):.2f}"
    )
    print(f"webhook rate      {len(latencies) / wall:.0f} deliveries/s over {wall:.2f}s")
    print(
        f"dispatched        {stubs.dispatches} at the Nomad stub, all within {drained:.2f}s "
        f"({stubs.dispatches / drained:.0f}/s end to end)"
    )


if __name__ == "__main__":
    main()
