"""`rod demo`: the whole story on the embedded stack, live, then a verdict and exit status."""

from __future__ import annotations

import json
import shlex
import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path
from types import FrameType

import click
import httpx
from rich.console import Console
from rich.live import Live

from simulator.harness import checks
from simulator.harness.demo_view import changes, render, summary
from simulator.harness.errors import HarnessError
from simulator.harness.github_client import ScriptedJob
from simulator.harness.observe import Snapshot
from simulator.harness.settings import StackSettings
from simulator.harness.stack import Stack

# Each self-hosted job asks for a different kind of machine; the last job runs on GitHub's own.
LABEL_SETS = (
    ("build", ("self-hosted", "linux", "x64")),
    ("test-arm", ("self-hosted", "linux", "arm64")),
    ("gpu-bench", ("self-hosted", "linux", "gpu")),
    ("windows", ("self-hosted", "windows", "x64")),
)
HOSTED_JOB = ScriptedJob("docs", ("ubuntu-latest",), duration_seconds=1.0)
POLL_SECONDS = 0.25
# `rod listen` declines a job by never hearing of it: GitHub offers a scale set only its own.
NOT_OFFERED = "never offered to its scale set"


def pull_request_jobs(count: int, seconds: float) -> list[ScriptedJob]:
    """`count` self-hosted jobs with different labels and durations, then one ubuntu-latest job."""
    jobs = []
    for n in range(count):
        name, labels = LABEL_SETS[n % len(LABEL_SETS)]
        suffix = f"-{n // len(LABEL_SETS) + 1}" if count > len(LABEL_SETS) else ""
        jobs.append(ScriptedJob(name + suffix, labels, seconds + 0.5 * (n % 3)))
    return [*jobs, HOSTED_JOB]


def finished(snapshot: Snapshot, expected_jobs: int) -> bool:
    """Every self-hosted job completed and nothing is left running on GitHub or Nomad."""
    if len(snapshot.jobs) < expected_jobs:
        return False
    done = all(job.status == "completed" for job in snapshot.jobs if job.self_hosted)
    return done and not checks.drained_problems(snapshot)


def watch(
    stack: Stack, run_id: int, expected_jobs: int, console: Console, timeout: float
) -> Snapshot:
    """Show the run live until it drains (or `timeout`), and return the last snapshot."""
    observer = stack.observer
    deadline = time.monotonic() + timeout
    snapshot = Snapshot()
    headline = f"pull request on {stack.repo}: workflow run {run_id}"

    def step() -> bool:
        nonlocal snapshot
        try:
            snapshot = observer.snapshot([run_id])
        except httpx.TransportError:
            return False
        return finished(snapshot, expected_jobs)

    if console.is_terminal:
        with Live(render(snapshot, headline), console=console, refresh_per_second=8) as live:
            while not step() and time.monotonic() < deadline:
                live.update(render(snapshot, headline))
                time.sleep(POLL_SECONDS)
            live.update(render(snapshot, headline + " - drained"))
        return snapshot
    console.print(headline)
    previous = Snapshot()
    while True:
        done = step()
        for line in changes(previous, snapshot):
            console.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)
        previous = snapshot
        if done or time.monotonic() >= deadline:
            return snapshot
        time.sleep(POLL_SECONDS)


def hosted_job_verdicts(stack: Stack, snapshot: Snapshot) -> dict[int, str]:
    """For each GitHub-hosted job: the dispatcher's answer to its queued delivery (or, through
    `rod listen`, whether its scale set was ever offered the job)."""
    hosted = [job for job in snapshot.jobs if not job.self_hosted]
    if stack.settings.intake == "listen":
        offered = {r["job_id"] for s in stack.control.scale_sets() for r in s["requests"]}
        return {
            job.id: "offered to its scale set" if job.id in offered else NOT_OFFERED
            for job in hosted
        }
    answers: dict[int, str] = {}
    hook_id = stack.hook_id
    assert hook_id is not None
    for item in stack.github.list_deliveries(stack.repo, hook_id):
        if item["action"] != "queued":
            continue
        detail = stack.github.get_delivery(stack.repo, hook_id, item["id"])
        job_id = detail["request"]["payload"]["workflow_job"]["id"]
        answers[int(job_id)] = f"{item['status_code']} {detail['response']['payload']}"
    return {job.id: answers.get(job.id, "no answer") for job in hosted}


def print_poke_lines(stack: Stack, console: Console) -> None:
    """URLs and commands a person can use on the running stack."""
    ends, repo = stack.endpoints, stack.repo
    run = {"event": "pull_request", "jobs": [{"name": "poke", "labels": ["self-hosted", "linux"]}]}
    listen = stack.settings.intake == "listen"
    lines = [
        f"GitHub emulator  {ends.github_url}   (token {ends.github_token})",
        f"Nomad emulator   {ends.nomad_url}",
        f"rod listen       {ends.dispatcher_url}   (/healthz /readyz /metrics)"
        if listen
        else f"rod serve        {ends.dispatcher_url}   (/webhook /healthz /readyz /metrics)",
        "",
        "Open another pull request (the full loop):",
        f"  curl -s -X POST {ends.github_url}/_sim/repos/{repo}/runs -H 'Content-Type: "
        f"application/json' -d {shlex.quote(json.dumps(run))}",
    ]
    if listen:
        lines += ["The scale set, its session and its runner requests:"]
        lines += [f"  curl -s {ends.github_url}/_sim/scalesets"]
    else:
        lines += [
            "Send one signed delivery straight to the dispatcher:",
            f"  rod sim emit --url {ends.webhook_url} --secret {ends.webhook_secret} "
            f"--repo {repo} --action queued --labels self-hosted,linux --job-id 4242",
        ]
    lines += [
        "Look:",
        f"  curl -s '{ends.nomad_url}/v1/jobs?prefix=github-runner/'",
        f"  curl -s -H 'Authorization: Bearer {ends.github_token}' "
        f"{ends.github_url}/repos/{repo}/actions/runners",
        f"  curl -s {ends.dispatcher_url}/metrics",
    ]
    for line in lines:
        console.print(line, markup=False, highlight=False, soft_wrap=True)


@click.command("demo")
@click.option(
    "--jobs",
    "job_count",
    type=click.IntRange(1, 40),
    default=4,
    show_default=True,
    help="Self-hosted jobs in the pull request's workflow (one ubuntu-latest job is added).",
)
@click.option(
    "--job-seconds",
    type=click.FloatRange(0.0, 60.0),
    default=2.0,
    show_default=True,
    help="How long the shortest scripted job runs on its runner.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(1.0),
    default=90.0,
    show_default=True,
    help="Seconds to wait for the run to finish and drain.",
)
@click.option(
    "--keep-running",
    is_flag=True,
    help="Leave the servers up afterwards, print their URLs, and wait for Ctrl-C.",
)
@click.option(
    "--intake",
    type=click.Choice(["webhook", "listen"]),
    default="webhook",
    show_default=True,
    help="How jobs reach the dispatcher: a webhook to rod serve, or rod listen's scale set.",
)
def command(
    job_count: int, job_seconds: float, timeout: float, keep_running: bool, intake: str
) -> None:
    """Open a simulated pull request and watch runners appear, run once, and drain to zero."""
    console = Console()
    if not console.is_terminal:
        # CI logs: wide enough for the summary table, no wrapping of the change lines.
        console = Console(width=max(console.width, 160))
    log_dir = Path(tempfile.mkdtemp(prefix="rod-demo-"))
    settings = StackSettings(timeout=30.0, log_dir=log_dir, intake=intake)
    rod = "rod listen" if intake == "listen" else "rod serve"
    console.print(f"Starting the GitHub emulator, the Nomad emulator and {rod} ...")
    # SIGTERM (a CI job cancelled) unwinds like Ctrl-C, so the child processes are stopped too.
    signal.signal(signal.SIGTERM, _interrupt)
    stack = Stack(settings)
    ok = failed = False  # the log is kept only when it tells why something failed
    try:
        try:
            stack.start()
        except HarnessError as exc:
            failed = True
            raise click.ClickException(f"{exc} (logs in {log_dir})") from None
        ok = _story(stack, console, job_count, job_seconds, timeout)
        failed = not ok
        if keep_running:
            print_poke_lines(stack, console)
            console.print("Servers are up; press Ctrl-C to stop them.")
            try:
                threading.Event().wait()
            except KeyboardInterrupt:
                console.print("Stopping.")
    finally:
        stack.stop()
        if not failed:  # also when interrupted: nothing of the demo is left behind
            shutil.rmtree(log_dir, ignore_errors=True)
    if not ok:
        log = log_dir / ("rod-listen.log" if intake == "listen" else "rod-serve.log")
        console.print(f"{rod}'s log: {log}", highlight=False)
        raise SystemExit(1)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _story(stack: Stack, console: Console, job_count: int, seconds: float, timeout: float) -> bool:
    """Run the pull request, show it, print the summary; True when every promise held."""
    ends, listen = stack.endpoints, stack.settings.intake == "listen"
    rod = "rod listen" if listen else "rod serve"
    console.print(
        f"GitHub {ends.github_url} | Nomad {ends.nomad_url} | {rod} {ends.dispatcher_url}",
        highlight=False,
        soft_wrap=True,
    )
    jobs = pull_request_jobs(job_count, seconds)
    run = stack.start_run(jobs, event="pull_request")
    run_id = int(run["id"])
    snapshot = watch(stack, run_id, len(jobs), console, timeout)
    # One last look at runners seen only briefly, then the verdicts.
    seen = stack.observer.ledger.seen.values()
    verdicts = checks.story_verdicts(snapshot, seen, stack.repo, listen=listen)
    # "No runner" proves something only once the dispatcher has seen and declined the job.
    answers = hosted_job_verdicts(stack, snapshot)
    declined = {
        job: answer == NOT_OFFERED if listen else answer.startswith("2") and "ignored" in answer
        for job, answer in answers.items()
    }
    verdicts = [
        checks.Verdict(
            v.job,
            v.ok and declined[v.job.id],
            f"{v.detail}; {rod}: {answers[v.job.id]}",
        )
        if v.job.id in answers
        else v
        for v in verdicts
    ]
    console.print(summary(verdicts, snapshot))
    left = checks.drained_problems(snapshot)
    for problem in left:
        console.print(f"[bold red]left over:[/] {problem}")
    all_jobs_seen = len(snapshot.jobs) == len(jobs)
    if not all_jobs_seen:
        console.print(f"[bold red]GitHub listed {len(snapshot.jobs)} of {len(jobs)} jobs[/]")
    ok = all_jobs_seen and not left and all(v.ok for v in verdicts)
    runners = len(snapshot.children)
    console.print(
        f"{runners} runners dispatched for {len(jobs) - 1} self-hosted jobs; "
        f"{len(snapshot.runners)} runners and {len(snapshot.live_allocations)} live allocations "
        f"remain. {'[bold green]PASS[/]' if ok else '[bold red]FAIL[/]'}"
    )
    return ok
