"""Queued -> runner dispatched, through each way in: a webhook to `rod serve`, or `rod listen`.

Usage: python scripts/bench_intake_latency.py [--rounds 30] [--burst 40] [--intake both]

For each intake it starts the acceptance suite's stack (GitHub and Nomad emulators in this
process, `rod serve` or `rod listen` as a real child process; simulator/harness/intake.py), then:
(1) `--rounds` times, with nothing else going on: starts a workflow run with one self-hosted job
and times from just before that call to the Nomad child's SubmitTime (both clocks are this
machine's), then waits until the runner has run the job and everything drained. For the webhook
that is delivery, verification, decision, generate-jitconfig and dispatch; for the listener it
is the long poll's wake-up (a poll is always held when idle), acquire, ack, the count from the
statistics, generatejitconfig and dispatch. (2) One run with `--burst` jobs at once: time until
the last of its children was dispatched. Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from simulator.harness import ScriptedJob, Stack, StackSettings
from simulator.harness.waiting import wait_for

LABELS = ("self-hosted", "linux", "x64")
JOB_SECONDS = 0.2


def children(stack: Stack) -> dict[str, float]:
    """Child id -> its SubmitTime in seconds, for every child of the runner job."""
    stubs = httpx.get(
        f"{stack.endpoints.nomad_url}/v1/jobs", params={"prefix": "github-runner/"}, timeout=5
    ).json()
    return {s["ID"]: s["SubmitTime"] / 1e9 for s in stubs if s.get("ParentID") == "github-runner"}


def drained(stack: Stack, run_id: int) -> bool:
    """The run's jobs completed, no runner registered, no allocation live."""
    snapshot = stack.observer.snapshot([run_id])
    done = all(job.status == "completed" for job in snapshot.jobs)
    return done and not snapshot.runners and not snapshot.live_allocations


def one_job(stack: Stack) -> float:
    """Seconds from just before the run starts to its runner's dispatch."""
    before = children(stack)
    started = time.time()
    run = stack.start_run([ScriptedJob("bench", LABELS, JOB_SECONDS)], event="push")
    new = wait_for(
        "the runner's dispatch",
        lambda: {k: v for k, v in children(stack).items() if k not in before},
        bool,
        timeout=30,
        interval=0.01,
    )
    latency = min(new.values()) - started
    wait_for("the drain", lambda: drained(stack, int(run["id"])), bool, timeout=60)
    return latency


def burst(stack: Stack, count: int) -> float:
    """Seconds from just before a run of `count` jobs starts to the last of their dispatches."""
    before = children(stack)
    jobs = [ScriptedJob(f"burst-{n}", LABELS, JOB_SECONDS) for n in range(count)]
    started = time.time()
    run = stack.start_run(jobs, event="push")
    new = wait_for(
        f"{count} dispatches",
        lambda: {k: v for k, v in children(stack).items() if k not in before},
        lambda found: len(found) >= count,
        timeout=120,
        interval=0.05,
    )
    last = max(new.values()) - started
    wait_for("the drain", lambda: drained(stack, int(run["id"])), bool, timeout=120)
    return last


def measure(intake: str, rounds: int, burst_size: int) -> tuple[list[float], float]:
    """Start the stack for `intake`, run the rounds and the burst, stop it."""
    log_dir = Path(tempfile.mkdtemp(prefix=f"rod-bench-{intake}-"))
    with Stack(StackSettings(intake=intake, log_dir=log_dir, timeout=30)) as stack:
        one_job(stack)  # warm-up: connections, imports, first scale set
        latencies = [one_job(stack) for _ in range(rounds)]
        last = burst(stack, burst_size) if burst_size else float("nan")
    return latencies, last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--burst", type=int, default=40)
    parser.add_argument("--intake", choices=["webhook", "listen", "both"], default="both")
    args = parser.parse_args()
    intakes = ["webhook", "listen"] if args.intake == "both" else [args.intake]
    print(f"queued -> runner dispatched, {args.rounds} single jobs each, then {args.burst} at once")
    print(f"{'intake':8} {'p50 ms':>8} {'p90 ms':>8} {'min ms':>8} {'max ms':>8} {'burst s':>8}")
    for intake in intakes:
        latencies, last = measure(intake, args.rounds, args.burst)
        ms = sorted(1000 * value for value in latencies)
        p90 = ms[min(len(ms) - 1, round(0.9 * (len(ms) - 1)))]
        print(
            f"{intake:8} {statistics.median(ms):8.0f} {p90:8.0f} {ms[0]:8.0f} {ms[-1]:8.0f} "
            f"{last:8.2f}"
        )


if __name__ == "__main__":
    main()
