"""A burst of workflow jobs through a misbehaving world: does every job get exactly one runner?

Usage: python scripts/bench_burst.py [--jobs 500] [--drop 0.2] [--copies 3] [--nomad-fail 0.1]
                                     [--kill-midway] [--seed 1] [--timeout 600] [--idle-grace 60]
                                     [--delay 0.1] [--hangs 5] [--hang-seconds 6] [--cancel 3]
                                     [--kill-at 4] [--storm]

Starts the simulator harness (GitHub and Nomad emulators in this process, `rod serve` as a child
process, the real deploy/nomad/github-runner.nomad.hcl running `rod sim runner` as real processes
under the Nomad emulator's process driver), then:
- plans the webhook deliveries: each is dropped with probability --drop, else sent --copies times
  (same X-GitHub-Delivery), through the GitHub emulator's `/_sim/webhooks/faults`;
- makes a random --nomad-fail share of every Nomad API call answer 500 (`/_sim/faults`);
- starts --jobs self-hosted jobs in workflow runs of 50, and watches both emulators' `/_sim/state`
  (the control plane, which faults never touch) until every job is done and no runner or live
  allocation is left, or --timeout passes;
- with --kill-midway, SIGKILLs `rod serve` once a quarter of the jobs have a Nomad child and starts
  it again on the same port: deliveries sent meanwhile fail, and GitHub never retries them;
  --kill-at S does it S seconds after the burst starts instead;
- --delay sends that share of the deliveries 1 to 8 s late; --hangs N makes N dispatches hang
  --hang-seconds after Nomad committed them (the emulator's passthrough fault: a slow Nomad, or
  one that answers after the client's 10 s timeout); --cancel N cancels N jobs while queued;
- --storm is issue 10's storm: drops, triplicates, delays, Nomad 500s, 6 s hangs, 3 cancelled
  jobs and a SIGKILL 4 s in (each option given explicitly still wins).
Figures only; nothing is asserted. Every socket is on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import random
import shlex
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from simulator.harness import ScriptedJob, Stack, StackSettings
from simulator.harness.faults import DISPATCH_ROUTE
from simulator.harness.sim_backend import SimBackend

ROOT = Path(__file__).resolve().parent.parent
LABELS = ("self-hosted", "linux", "x64")
JOBS_PER_RUN = 50
LIVE = ("pending", "running")
PROGRESS_SECONDS = 15.0
# Deliveries per job: queued, in_progress, completed; the plan covers some extra.
DELIVERIES_PER_JOB = 4


def webhook_plan(
    deliveries: int, drop: float, copies: int, rng: random.Random, delay: float = 0.0
) -> list[dict[str, Any]]:
    """Faults for the next `deliveries` deliveries: drops, late sends and `copies`-fold sends."""
    plan: list[dict[str, Any]] = []
    for _ in range(deliveries):
        draw = rng.random()
        fault: dict[str, Any] = {"mode": "duplicate", "copies": copies}
        if draw < drop:
            fault = {"mode": "drop"}
        elif draw < drop + delay:
            fault = {"mode": "delay", "delay_seconds": float(rng.randint(1, 8))}
        elif copies == 1:
            fault = {"mode": "delay", "delay_seconds": 0.0}  # sent once, as without a fault
        if plan and {k: v for k, v in plan[-1].items() if k != "count"} == fault:
            plan[-1]["count"] += 1
        else:
            plan.append({**fault, "count": 1})
    return plan


@dataclass
class Watch:
    """What the two emulators showed over the run, polled from their `/_sim/state`."""

    jobs: int
    started: float = field(default_factory=time.monotonic)
    children: Counter[int] = field(default_factory=Counter)
    child_runners: set[str] = field(default_factory=set)
    booted: set[str] = field(default_factory=set)  # runners whose task started
    served: dict[int, str] = field(default_factory=dict)
    completed: set[int] = field(default_factory=set)
    runners_now: int = 0
    live_allocs: int = 0
    peak_runners: int = 0
    peak_allocs: int = 0
    all_done_at: float | None = None
    zero_at: float | None = None

    def observe(self, github: dict[str, Any], nomad: dict[str, Any], parent: str) -> None:
        """Fold one pair of snapshots in."""
        now = time.monotonic() - self.started
        for job in github["jobs"]:
            if job["status"] == "completed":
                self.completed.add(job["id"])
                if job.get("runner_name"):
                    self.served[job["id"]] = job["runner_name"]
        metas = {
            job["ID"]: job["Meta"]
            for job in nomad["jobs"]
            if job.get("ParentID") == parent and "GITHUB_JOB_ID" in (job.get("Meta") or {})
        }
        self.children = Counter(int(meta["GITHUB_JOB_ID"]) for meta in metas.values())
        self.child_runners = {meta["RUNNER_NAME"] for meta in metas.values()}
        self.runners_now = len(github["runners"])
        self.live_allocs = sum(
            1 for a in nomad["allocations"] if a["JobID"] in metas and a["ClientStatus"] in LIVE
        )
        self.booted |= {
            metas[a["JobID"]]["RUNNER_NAME"]
            for a in nomad["allocations"]
            if a["JobID"] in metas
            and any(task.get("StartedAt") for task in (a.get("TaskStates") or {}).values())
        }
        self.peak_runners = max(self.peak_runners, self.runners_now)
        self.peak_allocs = max(self.peak_allocs, self.live_allocs)
        if self.all_done_at is None and len(self.completed) >= self.jobs:
            self.all_done_at = now
        if self.all_done_at is not None and self.runners_now == 0 and self.live_allocs == 0:
            self.zero_at = now

    def progress(self) -> str:
        """One line for the console while the burst runs."""
        return (
            f"{time.monotonic() - self.started:6.1f}s: {len(self.completed)}/{self.jobs} done,"
            f" {sum(self.children.values())} children, {self.runners_now} runners,"
            f" {self.live_allocs} live allocations"
        )

    @property
    def unused_runners(self) -> set[str]:
        """Runners that booted (their Nomad task started) and ran no job: surplus.

        A runner made for job A may run job B (job stealing), so a GITHUB_JOB_ID can have a
        second child while no job gets two runners: the waste is a runner that ran no job at all.
        A child stopped before its task started cost nothing but a placement.
        """
        return self.booted - set(self.served.values())

    @property
    def finished(self) -> bool:
        """Every job done and nothing left running."""
        return self.zero_at is not None


# Issue 10's storm: every fault kind at once, and a SIGKILL a few seconds in.
STORM: dict[str, Any] = {
    "drop": 0.1,
    "copies": 3,
    "delay": 0.1,
    "nomad_fail": 0.1,
    "hangs": 5,
    "hang_seconds": 6.0,
    "cancel": 3,
    "kill_at": 4.0,
}

# https://docs.github.com/rest/actions/self-hosted-runners#create-configuration-for-a-just-in-time-runner-for-a-repository
JIT_PATH = "/repos/*/actions/runners/generate-jitconfig"
# https://docs.github.com/rest/actions/self-hosted-runners#delete-a-self-hosted-runner-from-a-repository
RUNNER_PATH = "/repos/*/actions/runners/[0-9]*"


def _count(http: httpx.Client, base: str, method: str, path: str, status: int) -> int:
    """How many requests to `path` (a glob) the emulator answered with `status`."""
    logged = http.get(f"{base}/_sim/requests", params={"method": method, "path": path}).json()
    return sum(1 for request in logged if request["status"] == status)


def cancel_queued(http: httpx.Client, github: str, job_ids: list[int], count: int) -> int:
    """Cancel up to `count` of these jobs while still queued; how many were."""
    cancelled = 0
    for job_id in job_ids:
        if cancelled >= count:
            break
        answer = http.post(f"{github}/_sim/jobs/{job_id}/cancel")
        cancelled += answer.is_success  # 409: it had started already
    return cancelled


def config_text(repo: str, interval: float, idle_grace: float) -> str:
    """The `rod serve --config` file: the reconciler's timing and the repository it serves."""
    return (
        f"[reconcile]\ninterval_seconds = {interval}\nidle_grace_seconds = {idle_grace}\n"
        f'repos = ["{repo}"]\n'
    )


def run(args: argparse.Namespace, console: Console) -> tuple[Watch, dict[str, Any]]:
    """Start the stack, inject the faults, start the burst and watch it to the end."""
    rng = random.Random(args.seed)
    (ROOT / "build").mkdir(exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="bench-burst-", dir=ROOT / "build"))
    settings = StackSettings(log_dir=workdir, timeout=60.0, job_seconds=args.job_seconds)
    config = workdir / "rod.toml"
    config.write_text(config_text(settings.repo, args.reconcile_interval, args.idle_grace))
    backend = SimBackend(settings, serve_args=["--config", str(config)])
    extra: dict[str, Any] = {"log": str(workdir / "rod-serve.log"), "killed_at": None}
    with Stack(settings, backend) as stack, httpx.Client(timeout=30) as http:
        github, nomad = stack.endpoints.github_url, stack.endpoints.nomad_url
        deliveries = args.jobs * DELIVERIES_PER_JOB
        for fault in webhook_plan(deliveries, args.drop, args.copies, rng, args.delay):
            http.post(f"{github}/_sim/webhooks/faults", json=fault).raise_for_status()
        if args.hangs > 0:  # before the 500s: a hang is tried first, on about 1 dispatch in 20
            fault = {
                "method": "POST",
                "path": DISPATCH_ROUTE,
                "count": args.hangs,
                "probability": 0.05,
                "hang_seconds": args.hang_seconds,
                "passthrough": True,
            }
            http.post(f"{nomad}/_sim/faults", json=fault).raise_for_status()
        if args.nomad_fail > 0:
            fault = {"method": "*", "path": "/v1/*", "count": 10**9, "probability": args.nomad_fail}
            http.post(f"{nomad}/_sim/faults", json=fault).raise_for_status()
        watch = Watch(args.jobs)
        job_ids: list[int] = []
        for first in range(0, args.jobs, JOBS_PER_RUN):
            count = min(JOBS_PER_RUN, args.jobs - first)
            jobs = [
                ScriptedJob(f"job-{first + n}", LABELS, duration_seconds=args.job_seconds)
                for n in range(count)
            ]
            job_ids += [job["id"] for job in stack.start_run(jobs)["jobs"]]
        extra["cancelled"] = cancel_queued(http, github, job_ids[::-1], args.cancel)
        console.print(f"burst of {args.jobs} jobs started; watching (timeout {args.timeout:g}s)")
        deadline = watch.started + args.timeout
        next_line = watch.started + PROGRESS_SECONDS
        while not watch.finished and time.monotonic() < deadline:
            time.sleep(1.0)
            watch.observe(
                http.get(f"{github}/_sim/state").json(),
                http.get(f"{nomad}/_sim/state").json(),
                settings.runner_job,
            )
            if time.monotonic() >= next_line:
                console.print(watch.progress())
                next_line += PROGRESS_SECONDS
            elapsed = time.monotonic() - watch.started
            due = (args.kill_midway and len(watch.children) >= args.jobs // 4) or (
                args.kill_at is not None and elapsed >= args.kill_at
            )
            if due and extra["killed_at"] is None:
                extra["killed_at"] = elapsed
                dispatcher = backend.dispatcher
                assert dispatcher is not None
                dispatcher.kill()
                time.sleep(args.down_seconds)
                dispatcher.start(timeout=60.0)
                console.print(f"rod serve SIGKILLed at {extra['killed_at']:.1f}s and started again")
        extra["jit_created"] = _count(http, github, "POST", JIT_PATH, 201)
        extra["runners_deleted"] = _count(http, github, "DELETE", RUNNER_PATH, 204)
        calls = http.get(f"{nomad}/_sim/requests").json()
        extra["nomad_calls"] = len(calls)
        extra["nomad_failed"] = sum(1 for r in calls if r["status"] >= 500)
        left = sum(f["count"] for f in http.get(f"{nomad}/_sim/faults").json() if f["passthrough"])
        extra["hung"] = args.hangs - left
    return watch, extra


def report(args: argparse.Namespace, watch: Watch, extra: dict[str, Any], wall: float) -> Table:
    """The figures as a table."""

    def seconds(value: float | None) -> str:
        return "never (timeout)" if value is None else f"{value:.1f} s"

    children = sum(watch.children.values())
    idle = watch.unused_runners
    redispatched = sum(1 for n in watch.children.values() if n > 1)
    table = Table(title=f"burst of {args.jobs} jobs", show_header=True)
    table.add_column("figure")
    table.add_column("value", justify="right")
    wanted = args.jobs - extra["cancelled"]
    rows = [
        ("jobs served (completed on a runner)", f"{len(watch.served)} / {wanted}"),
        ("jobs cancelled while queued", str(extra["cancelled"])),
        ("jobs lost (not done by the timeout)", str(args.jobs - len(watch.completed))),
        ("surplus runners (booted, ran no job)", str(len(idle))),
        (
            "children whose runner ran no job (booted or not)",
            str(len(watch.child_runners - set(watch.served.values()))),
        ),
        ("Nomad children dispatched / JIT runners created", f"{children} / {extra['jit_created']}"),
        ("GITHUB_JOB_IDs with 2+ children (job stealing)", str(redispatched)),
        ("runners deleted through the API", str(extra["runners_deleted"])),
        ("first delivery -> every job done", seconds(watch.all_done_at)),
        ("first delivery -> 0 runners, 0 live allocations", seconds(watch.zero_at)),
        (
            "runners / live allocations left at the end",
            f"{watch.runners_now} / {watch.live_allocs}",
        ),
        ("peak runners / peak live allocations", f"{watch.peak_runners} / {watch.peak_allocs}"),
        (
            "Nomad calls answered 500 (injected)",
            f"{extra['nomad_failed']} of {extra['nomad_calls']}",
        ),
        ("dispatches answered late (committed first)", str(extra["hung"])),
        (
            "rod serve SIGKILLed at",
            "-" if extra["killed_at"] is None else seconds(extra["killed_at"]),
        ),
        ("wall time (start of stack to end)", f"{wall:.1f} s"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    if idle:
        table.add_row("runners that ran no job", ", ".join(sorted(idle)))
    return table


def parse(argv: list[str]) -> argparse.Namespace:
    """Options, refused in one line when they cannot work."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=500, help="workflow jobs in the burst")
    parser.add_argument("--drop", type=float, default=0.2, help="share of deliveries dropped")
    parser.add_argument("--copies", type=int, default=3, help="times every other delivery is sent")
    parser.add_argument(
        "--nomad-fail", type=float, default=0.1, help="share of Nomad calls failing"
    )
    parser.add_argument("--kill-midway", action="store_true", help="SIGKILL rod serve mid-burst")
    parser.add_argument("--down-seconds", type=float, default=2.0, help="downtime after the kill")
    parser.add_argument("--seed", type=int, default=1, help="seed of the delivery fault plan")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait at most")
    parser.add_argument("--job-seconds", type=float, default=1.0, help="how long each job runs")
    parser.add_argument(
        "--reconcile-interval", type=float, default=5.0, help="rod's [reconcile] interval_seconds"
    )
    parser.add_argument(
        "--idle-grace", type=float, default=60.0, help="rod's [reconcile] idle_grace_seconds"
    )
    parser.add_argument("--delay", type=float, default=0.0, help="share of deliveries sent late")
    parser.add_argument("--hangs", type=int, default=0, help="dispatches answered late")
    parser.add_argument("--hang-seconds", type=float, default=6.0, help="how late")
    parser.add_argument("--cancel", type=int, default=0, help="jobs cancelled while queued")
    parser.add_argument("--kill-at", type=float, default=None, help="SIGKILL after S seconds")
    parser.add_argument("--storm", action="store_true", help="issue 10's storm (see above)")
    given = {arg.split("=")[0] for arg in argv if arg.startswith("--")}
    args = parser.parse_args(argv)
    if args.storm:  # the options given explicitly win
        for option, value in STORM.items():
            if f"--{option.replace('_', '-')}" not in given:
                setattr(args, option, value)
    if not 1 <= args.jobs <= 5000:
        parser.error("--jobs must be from 1 to 5000")
    if not 0 <= args.drop < 1 or not 0 <= args.nomad_fail < 1 or not 0 <= args.delay < 1:
        parser.error("--drop, --delay and --nomad-fail must be from 0 to below 1")
    if args.drop + args.delay >= 1:
        parser.error("--drop and --delay together must stay below 1")
    if min(args.hangs, args.cancel) < 0 or args.hang_seconds < 0:
        parser.error("--hangs, --hang-seconds and --cancel must not be negative")
    if not 1 <= args.copies <= 10:
        parser.error("--copies must be from 1 to 10")
    if args.timeout <= 0 or args.reconcile_interval <= 0:
        parser.error("--timeout and --reconcile-interval must be positive")
    if args.job_seconds < 0 or args.idle_grace < 0:
        parser.error("--job-seconds and --idle-grace must not be negative")
    return args


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print the command line and the figures."""
    args = parse(sys.argv[1:] if argv is None else argv)
    console = Console()
    command = shlex.join([Path(sys.executable).name, "scripts/bench_burst.py", *sys.argv[1:]])
    console.print(f"$ {command}")
    began = time.monotonic()
    watch, extra = run(args, console)
    wall = time.monotonic() - began
    console.print(report(args, watch, extra, wall))
    console.print(
        f"runners: real `rod sim runner` processes (Nomad emulator, process driver, node 4000 MHz /"
        f" 8192 MB, runner task 100 MHz / 128 MB: 40 at once); jobs run {args.job_seconds:g} s;"
        f" reconcile interval {args.reconcile_interval:g} s, idle grace {args.idle_grace:g} s;"
        f" rod serve log: {extra['log']}"
    )


if __name__ == "__main__":
    main()
