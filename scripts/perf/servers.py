"""The servers a benchmark starts, each in its own process: rod, the bare and signed apps, the
stand-ins.

`python scripts/bench_perf.py _serve {rod,bare,signed,standins} --port P --stack {plain,fast} ...`
runs one of them under uvicorn; `Server` starts such a process and waits until it answers.
"""

from __future__ import annotations

import argparse
import inspect
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from perf.deliveries import SECRET

TOKEN = "bench-token"

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "bench_perf.py"
# uvicorn's own names for the event loop and the HTTP parser of each stack.
STACKS = {"plain": ("asyncio", "h11"), "fast": ("uvloop", "httptools")}


def bare_app() -> Any:
    """A Starlette app that reads the body and answers 202: the floor rod is compared with."""
    from starlette.requests import Request
    from starlette.responses import JSONResponse

    async def webhook(request: Request) -> JSONResponse:
        await request.body()
        return JSONResponse({"accepted": True}, 202)

    return _starlette(webhook)


def signed_app() -> Any:
    """The bare app plus the work no dispatcher can skip: rod's check of the HMAC-SHA256
    signature and its decode of the fields it reads (payload.read, msgspec), then answer 202
    (401 when unsigned or unreadable)."""
    from starlette.requests import Request
    from starlette.responses import JSONResponse

    from runners_on_demand.delivery import verify_signature
    from runners_on_demand.errors import SignatureMismatch
    from runners_on_demand.payload import read

    async def webhook(request: Request) -> JSONResponse:
        body = await request.body()
        try:
            verify_signature(body, request.headers.get("x-hub-signature-256"), secret=SECRET)
        except SignatureMismatch:
            return JSONResponse({"error": "unsigned"}, 401)
        if read(body.decode()) is None:
            return JSONResponse({"error": "unreadable"}, 401)
        return JSONResponse({"accepted": True}, 202)

    return _starlette(webhook)


def _starlette(webhook: Any) -> Any:
    """A Starlette app with `webhook` at `POST /webhook` and a `/readyz` that answers 200."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def ready(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return Starlette(routes=[Route("/webhook", webhook, methods=["POST"]), Route("/readyz", ready)])


def rod_app(config: str | None, *, github: str, nomad: str) -> Any:
    """`rod serve`'s app, its settings read as `rod serve` reads them.

    `github` and `nomad` are URLs, or `mock`: the stand-ins in this process, behind httpx
    MockTransports (no socket; the stand-ins' CPU is then rod's).
    """
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from perf.standins import StandIns
    from runners_on_demand.app import create_app
    from runners_on_demand.wiring import read_settings

    environ = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "NOMAD_"))}
    environ |= {
        "GITHUB_WEBHOOK_SECRET": SECRET,
        "GITHUB_TOKEN": TOKEN,
        "GITHUB_API_URL": "http://github.invalid" if github == "mock" else github,
        "NOMAD_ADDR": "http://nomad.invalid" if nomad == "mock" else nomad,
    }
    settings = read_settings(config, environ)
    stand_ins = StandIns(gated=os.environ.get("BENCH_GATED") == "1")
    mock = "mock" in (github, nomad)
    app = create_app(
        settings,
        github_transport=stand_ins.transport() if github == "mock" else None,
        nomad_transport=stand_ins.transport() if nomad == "mock" else None,
        dispatch_process=settings.server.dispatch_process and not mock,
    )

    async def bench(request: Request) -> Response:
        status, content = await stand_ins.answer(request.method, request.url.path, "", b"")
        return Response(content, status, media_type="application/json")

    if mock:
        app.router.routes.insert(0, Route("/_bench/{what}", bench, methods=["GET", "POST"]))
    return app


def serve(argv: list[str]) -> None:
    """The `_serve` subcommand: one server in this process until SIGTERM."""
    parser = argparse.ArgumentParser(prog="bench_perf.py _serve")
    parser.add_argument("what", choices=("rod", "bare", "signed", "standins"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--stack", choices=tuple(STACKS), default="fast")
    parser.add_argument("--github", default="mock", help="GitHub's URL, or mock")
    parser.add_argument("--nomad", default="mock", help="Nomad's URL, or mock")
    parser.add_argument("--config")
    parser.add_argument("--gated", action="store_true")
    parser.add_argument("--nice", type=int, default=0, help="this process's niceness")
    args = parser.parse_args(argv)
    os.nice(args.nice)
    import uvicorn

    from perf.standins import StandIns

    if args.what == "bare":
        app = bare_app()
    elif args.what == "signed":
        app = signed_app()
    elif args.what == "standins":
        app = StandIns(gated=args.gated)
    else:
        app = rod_app(args.config, github=args.github, nomad=args.nomad)
    run_until_sigterm = _rod_serves_with_stack()
    if run_until_sigterm is not None:  # the very uvicorn settings of `rod serve`
        run_until_sigterm(
            app, host="127.0.0.1", port=args.port, log_level="warning", stack=STACKS[args.stack]
        )
        return
    loop, http = STACKS[args.stack]  # code from before `rod serve` chose its stack
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        loop=loop,
        http=http,
        log_config=None,
        log_level="warning",
        access_log=False,
        lifespan="on",
        proxy_headers=False,
    )


def _rod_serves_with_stack() -> Any:
    """`serve.run_until_sigterm` when it takes a `stack`, else None."""
    try:
        from runners_on_demand.serve import run_until_sigterm
    except ImportError:
        return None
    return run_until_sigterm if "stack" in inspect.signature(run_until_sigterm).parameters else None


class Server:
    """A `_serve` process on a free port; `url`, `pid`, `rss_mb()`; stopped on exit."""

    def __init__(self, what: str, *args: str, env: dict[str, str] | None = None) -> None:
        from simulator.serving import free_port

        self.what = what
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, str(SCRIPT), "_serve", what, "--port", str(self.port), *args]
        self._process = subprocess.Popen(command, env={**os.environ, **(env or {})})

    @property
    def pid(self) -> int:
        """The server's process id."""
        return self._process.pid

    def wait_ready(self, path: str = "/readyz", timeout: float = 60.0) -> Server:
        """Poll `path` until it answers 200."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise SystemExit(f"bench: the {self.what} server exited before it was ready")
            try:
                if httpx.get(self.url + path, timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise SystemExit(f"bench: the {self.what} server did not answer {path} in {timeout:g}s")

    def pids(self) -> list[int]:
        """The server's process and its children (rod's dispatch process), recursively."""
        found, index = [self.pid], 0
        while index < len(found):
            path = Path(f"/proc/{found[index]}/task/{found[index]}/children")
            found += [int(pid) for pid in _read(path).split()]
            index += 1
        return found

    def rss_mb(self) -> float:
        """Resident set size of the processes now, summed, in MB (10^6 bytes): pages they share
        (a forked child's, until written) count once per process."""
        return sum(self.rss_each_mb())

    def rss_each_mb(self) -> list[float]:
        """Resident set size of each process now, in MB, the server's own first."""
        return [_field(f"/proc/{pid}/status", "VmRSS:") / 1e3 for pid in self.pids()]

    def pss_mb(self) -> float:
        """Proportional set size of the processes, summed, in MB: shared pages counted once."""
        return sum(_field(f"/proc/{pid}/smaps_rollup", "Pss:") for pid in self.pids()) / 1e3

    def cpu_seconds(self) -> float:
        """User + system CPU time the processes have used so far."""
        return self._stat_total(11, 12) / os.sysconf("SC_CLK_TCK")  # utime, stime

    def minor_faults(self) -> int:
        """Pages the processes have touched for the first time so far (minor page faults)."""
        return self._stat_total(7)  # minflt

    def _stat_total(self, *fields: int) -> int:
        """These fields of /proc/<pid>/stat (counted from the one after the command, 0 = state)
        summed over the processes; a process gone meanwhile counts 0."""
        total = 0
        for pid in self.pids():
            values = _read(Path(f"/proc/{pid}/stat")).rpartition(")")[2].split()
            total += sum(int(values[field]) for field in fields) if values else 0
        return total

    def pause(self) -> None:
        """SIGSTOP the server's own process (not its children) until `resume`."""
        self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT the server's process."""
        self._process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        """SIGTERM, then wait (SIGKILL after 30 s)."""
        if self._process.poll() is None:
            self.resume()  # a paused process would take the SIGTERM only when continued
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def __enter__(self) -> Server:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _read(path: Path) -> str:
    """A /proc file's text; empty once its process is gone."""
    try:
        return path.read_text()
    except (FileNotFoundError, ProcessLookupError):
        return ""


def _field(path: str, name: str) -> int:
    """A "Name:  123 kB" line's number of kB (1024 bytes) from a /proc file, 0 if absent."""
    for line in _read(Path(path)).splitlines():
        if line.startswith(name):
            return int(line.split()[1]) * 1024 // 1000
    if not Path("/proc/self/status").exists():
        raise SystemExit("bench: no /proc (Linux only)")
    return 0
