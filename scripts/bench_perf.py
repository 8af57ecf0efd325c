"""rod serve next to a bare ASGI app on the same uvicorn, and rod's own costs: the issue 14 table.

Usage: python scripts/bench_perf.py [--repeat 3] [--soak-seconds 600] [--only PHASE,...]
                                    [--upstreams loopback|mock] [--json FILE]

Phases (all by default): inproc, throughput, ack, latency, outbound, memory, soak, burst.
- throughput: wrk (Debian's, one thread, 32 keep-alive connections, distinct signed deliveries)
  against the bare app (Starlette: read the body, answer 202), the signed app (the bare app
  plus the HMAC check and the decode of the fields rod reads: the work no dispatcher can skip)
  and rod, on plain uvicorn (asyncio + h11) and on uvloop + httptools; the ratio per repetition.
  The three run at once and take turns, 2 s of wrk each (`--slice-seconds`), the two not
  measured paused (SIGSTOP): the figures of the shared cores drift by 10-20% in minutes, and
  interleaved slices meet the same drift.
- ack: the paced client (its own process, h11, keep-alive, timing each answer from when it was
  due) at 500 deliveries/s against both, in alternating order per repetition, while rod
  dispatches every job it acknowledges.
- inproc: parse + decide per delivery vs HMAC-SHA256 + json.loads of the same bytes.
- latency: delivery sent -> Nomad dispatch arrived, at 25 jobs/s.
- outbound: jobs queued behind a closed Nomad gate, then the dispatches per second (two calls
  each: the credential Variable, dispatch; one registration token, reused) once it opens.
- memory / soak: rod's RSS after 10,000 deliveries; every 5 s over the soak at 50/s.
- burst: 1,000 jobs through the GitHub emulator enforcing its secondary limits.
rod runs in registration-token mode except in the burst (see perf/phases.py's ROD_CONFIG).
The GitHub and Nomad stand-ins answer at once; by default they are a raw ASGI app in a process of
its own on loopback (rod pays its HTTP client's full cost and nothing of the stand-ins'), with
`--upstreams mock` httpx MockTransports inside rod's process. Figures only; nothing is asserted.
Every socket is on 127.0.0.1. Run it when the machine is quiet: the load average is printed.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from perf import figures, load, phases
from perf.figures import markdown, ratio, spread

# Distinct deliveries wrk cycles through, per second of its run: more than rod takes, so none
# comes twice (rod answers a repeat as a duplicate, which skips the line and would flatter it).
WRK_DISTINCT_PER_SECOND = 12_000
PHASES = ("inproc", "throughput", "ack", "latency", "outbound", "memory", "soak", "burst")
ROOT = Path(__file__).resolve().parent.parent


def parse(argv: list[str]) -> argparse.Namespace:
    """Options, refused in one line when they cannot work."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="repetitions of the short phases")
    parser.add_argument("--only", default=",".join(PHASES), help="comma-separated phases")
    parser.add_argument("--upstreams", choices=("loopback", "mock"), default="loopback")
    parser.add_argument("--throughput-seconds", type=float, default=8.0, help="wrk's, per side")
    parser.add_argument(
        "--slice-seconds", type=int, default=2, help="...in slices this long, sides in turn"
    )
    parser.add_argument("--connections", type=int, default=32, help="wrk's connections")
    parser.add_argument("--ack-rate", type=float, default=500.0)
    parser.add_argument("--ack-seconds", type=float, default=10.0)
    parser.add_argument("--latency-rate", type=float, default=25.0)
    parser.add_argument("--latency-seconds", type=float, default=20.0)
    parser.add_argument("--outbound-jobs", type=int, default=2000)
    parser.add_argument("--memory-deliveries", type=int, default=10_000)
    parser.add_argument("--soak-rate", type=float, default=50.0)
    parser.add_argument("--soak-seconds", type=float, default=600.0)
    parser.add_argument("--burst-jobs", type=int, default=1000)
    parser.add_argument(
        "--standins-nice",
        type=int,
        default=phases.STANDINS_NICE,
        help="niceness of the GitHub and Nomad stand-ins (services of other machines)",
    )
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument(
        "--max-load", type=float, help="before each phase, wait until the load average is this low"
    )
    parser.add_argument("--max-wait", type=float, default=600.0, help="...but at most this long")
    args = parser.parse_args(argv)
    args.phases = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = set(args.phases) - set(PHASES)
    if unknown:
        parser.error(f"unknown phase(s) {', '.join(sorted(unknown))}; choose from {PHASES}")
    if args.repeat < 1 or args.soak_seconds < 20 or args.burst_jobs < 1:
        parser.error("--repeat and --burst-jobs must be positive, --soak-seconds at least 20")
    if min(args.throughput_seconds, args.slice_seconds) <= 0:
        parser.error("--throughput-seconds and --slice-seconds must be positive")
    if "throughput" in args.phases and not load.have_wrk():
        parser.error("the throughput phase needs wrk on PATH (Debian: apt-get install wrk)")
    return args


def stacks() -> list[str]:
    """The server stacks to compare on: plain, and fast where uvloop and httptools exist."""
    return ["plain"] + (["fast"] if phases.stack_available("fast") else [])


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Every chosen phase; the raw figures (also in --json after each phase)."""
    options = phases.Options(args.upstreams, workdir, args.standins_nice)
    out: dict[str, Any] = {"load_average": {}, "failed": {}}
    every = stacks()
    default = every[-1]

    def throughput() -> dict[str, Any]:
        seconds, connections = args.slice_seconds, args.connections  # wrk takes whole seconds
        count = max(1, round(args.throughput_seconds / seconds))
        per_slice = int(WRK_DISTINCT_PER_SECOND * seconds)
        slices = [workdir / f"requests-{n}.tsv" for n in range(count)]
        for n, requests in enumerate(slices):
            load.write_wrk_requests(requests, n * per_slice, per_slice)
        return {
            stack: [
                phases.throughput(
                    stack, options, slices, seconds=seconds, connections=connections, rep=rep
                )
                for rep in range(args.repeat)
            ]
            for stack in every
        }

    def burst() -> dict[str, Any]:
        from perf import burst

        return burst.run(default, options, jobs=args.burst_jobs)

    steps: dict[str, Callable[[], Any]] = {
        "inproc": lambda: phases.in_process(max(args.repeat, 5)),
        "throughput": throughput,
        "ack": lambda: {
            stack: [
                phases.acknowledge(
                    stack, options, rate=args.ack_rate, seconds=args.ack_seconds, rep=rep
                )
                for rep in range(args.repeat)
            ]
            for stack in every
        },
        "latency": lambda: [
            phases.to_dispatch(
                default, options, rate=args.latency_rate, seconds=args.latency_seconds
            )
            for _ in range(args.repeat)
        ],
        "outbound": lambda: [
            phases.outbound(default, options, jobs=args.outbound_jobs) for _ in range(args.repeat)
        ],
        "memory": lambda: phases.memory(
            default, options, count=args.memory_deliveries, rate=args.ack_rate
        ),
        "soak": lambda: phases.soak(
            default, options, rate=args.soak_rate, seconds=args.soak_seconds
        ),
        "burst": burst,
    }
    for phase in PHASES:
        if phase not in args.phases:
            continue
        out["load_average"][phase] = figures.wait_until_quiet(args.max_load, args.max_wait)
        print(f"[{phase}] load average {out['load_average'][phase]}", file=sys.stderr)
        try:
            out[phase] = steps[phase]()
        except (SystemExit, subprocess.CalledProcessError) as error:  # the other phases still run
            out["failed"][phase] = str(error)
            print(f"[{phase}] FAILED: {error}", file=sys.stderr)
        if args.json:
            args.json.write_text(json.dumps(out, indent=1))
    return out


def table(args: argparse.Namespace, out: dict[str, Any]) -> str:
    """The issue's table from the raw figures."""
    rows: list[tuple[str, ...]] = []
    names = {"plain": "plain uvicorn (h11, asyncio)", "fast": "uvloop + httptools"}
    columns = [s for s in ("plain", "fast") if s in out.get("throughput", out.get("ack", {}))]

    def cells(fill: Any) -> tuple[str, ...]:
        return tuple(fill(stack) for stack in columns)

    if "throughput" in out:

        def throughput(stack: str, side: str = "rod") -> str:
            runs = out["throughput"][stack]
            mine = [r[side]["rate"] for r in runs]
            bare = [r["bare"]["rate"] for r in runs]
            return f"{spread(mine)} / {spread(bare)} req/s; paired **{ratio(mine, bare)}**"

        def cpu(stack: str) -> str:
            runs = out["throughput"][stack]
            rod = [r["rod"]["cpu_ms"] for r in runs]
            bare = [r["bare"]["cpu_ms"] for r in runs]
            fmt = "{:.2f}"
            return f"{spread(rod, fmt)} / {spread(bare, fmt)} ms ({ratio(rod, bare)})"

        rows.append(("throughput, rod / bare (wrk -t1 -c32)", *cells(throughput)))
        rows.append(
            (
                "throughput, bare + HMAC check + decode / bare",
                *cells(lambda stack: throughput(stack, "signed")),
            )
        )

        def pages(stack: str) -> str:
            runs = out["throughput"][stack]
            rod = [r["rod"]["new_pages"] for r in runs]
            bare = [r["bare"]["new_pages"] for r in runs]
            return f"{spread(rod, '{:.2f}')} / {spread(bare, '{:.2f}')}"

        rows.append(("server CPU per request under wrk, rod / bare", *cells(cpu)))
        rows.append(("new memory pages per request under wrk, rod / bare", *cells(pages)))
    if "ack" in out:

        def ack(stack: str) -> str:
            runs = out["ack"][stack]
            parts = []
            for q in ("p50", "p99"):
                rod = [r["rod"][q] for r in runs]
                bare = [r["bare"][q] for r in runs]
                fmt = "{:.2f}"
                parts.append(
                    f"{q} {spread(rod, fmt)} / {spread(bare, fmt)} ms ({ratio(rod, bare)})"
                )
            if all("own" in r["rod"] for r in runs):
                within = [
                    spread([100 * r["rod"]["own"][key] for r in runs], "{:.1f}%")
                    for key in ("within_1ms", "within_10ms")
                ]
                parts.append(f"rod's own time: {within[0]} within 1 ms, {within[1]} within 10 ms")
            return "; ".join(parts)

        rows.append((f"acknowledge at {args.ack_rate:g}/s, rod / bare", *cells(ack)))
    blank = ("",) * max(len(columns) - 1, 0)
    if "inproc" in out:
        rod, floor = out["inproc"]["rod"], out["inproc"]["floor"]
        text = f"{spread(rod)} us vs {spread(floor)} us ({ratio(rod, floor)})"
        rows.append(("in-process: parse + decide vs HMAC-SHA256 + json.loads", text, *blank))
    if "latency" in out:
        runs = out["latency"]
        p50 = spread([r["p50"] for r in runs], "{:.1f}")
        p95 = spread([r["p95"] for r in runs], "{:.1f}")
        rows.append(
            (
                f"queued -> dispatch at {args.latency_rate:g} jobs/s, p50 / p95",
                f"{p50} / {p95} ms",
                *blank,
            )
        )
    if "outbound" in out:
        rate = spread([r["rate"] for r in out["outbound"]])
        cpu = spread([r["cpu_ms"] for r in out["outbound"]], "{:.2f}")
        text = f"{rate} dispatches/s; rod's CPU {cpu} ms per dispatch"
        rows.append(("outbound capacity (2 calls each)", text, *blank))
    if "memory" in out:
        m = out["memory"]
        text = ", ".join(
            f"{m[when]:.0f} MB ({m[when + '_pss']:.0f} MB) {what}"
            for when, what in (
                ("ready", "ready"),
                ("acknowledged", "acknowledged"),
                ("drained", "dispatched"),
            )
        )
        each = " / ".join(f"{rss:.0f}" for rss in m["each_drained"])
        text += f"; RSS of each process, dispatched: {each} MB"
        label = (
            f"RSS (PSS) of {m['processes']} processes after {args.memory_deliveries:,} deliveries"
        )
        rows.append((label, text, *blank))
    if "soak" in out:
        s = out["soak"]
        text = (
            f"first {s['window']:.0f} s {s['first']:.1f} MB, the {s['window']:.0f} s before half "
            f"time {s['half']:.1f} MB, last {s['window']:.0f} s {s['last']:.1f} MB, max "
            f"{s['max']:.1f} MB; PSS at the end {s['pss_last']:.1f} MB"
        )
        rows.append((f"RSS over {s['seconds']:.0f} s at {args.soak_rate:g}/s", text, *blank))
    if "burst" in out:
        from perf import burst

        rows.append(
            (f"paced burst of {args.burst_jobs:,} jobs", burst.describe(out["burst"]), *blank)
        )
    return markdown(rows, ("", *(names[s] for s in columns)) if columns else ("", "figure"))


def main(argv: list[str] | None = None) -> None:
    """Dispatch the internal subcommands, or run the benchmark and print the table."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_serve"]:
        from perf.servers import serve

        return serve(argv[1:])
    if argv[:1] == ["_load"]:
        return load.load(argv[1:])
    args = parse(argv)
    print("$ " + shlex.join(["python", "scripts/bench_perf.py", *argv]))
    (ROOT / "build").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-perf-", dir=ROOT / "build") as workdir:
        out = run(args, Path(workdir))
    print(table(args, out))
    for phase, error in out["failed"].items():
        print(f"phase {phase} failed: {error}")
    print(f"load average during the phases: {out['load_average']}")


if __name__ == "__main__":
    main()
