"""How `rod demo` shows a snapshot: rich tables for a terminal, one line per change otherwise."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from simulator.harness.checks import Verdict
from simulator.harness.observe import ChildView, Snapshot

STATUS_STYLES = {
    "queued": "yellow",
    "in_progress": "cyan",
    "completed": "green",
    "pending": "yellow",
    "running": "cyan",
    "complete": "green",
    "dead": "dim",
    "failed": "red",
    "online": "cyan",
    "offline": "dim",
}


def _styled(value: str | None) -> Text:
    value = value or "-"
    return Text(value, style=STATUS_STYLES.get(value, ""))


def render(snapshot: Snapshot, headline: str) -> Group:
    """Jobs, Nomad children with their allocations, and GitHub runners, as three tables."""
    jobs = Table(title="Workflow jobs (GitHub)", title_justify="left", expand=True)
    for column in ("job", "labels", "status", "conclusion", "runner"):
        jobs.add_column(column)
    for job in snapshot.jobs:
        jobs.add_row(
            f"{job.id} {job.name}",
            ", ".join(job.labels),
            _styled(job.status),
            _styled(job.conclusion),
            job.runner_name or "-",
        )
    children = Table(title="Nomad children of the runner job", title_justify="left", expand=True)
    for column in ("child", "runner name", "for job", "status", "allocations"):
        children.add_column(column)
    for child in snapshot.children:
        children.add_row(
            child.id,
            child.runner_name or "-",
            str(child.github_job_id or "-"),
            _styled(child.status),
            Text(" ".join(a.client_status for a in child.allocations) or "-"),
        )
    runners = Table(title="Runners registered on GitHub", title_justify="left", expand=True)
    for column in ("runner", "status", "busy", "labels"):
        runners.add_column(column)
    for runner in snapshot.runners:
        runners.add_row(
            f"{runner.id} {runner.name}",
            _styled(runner.status),
            "yes" if runner.busy else "no",
            ", ".join(runner.labels),
        )
    if not snapshot.runners:
        runners.add_row("(none)", "", "", "")
    return Group(Text(headline, style="bold"), jobs, children, runners)


def _allocations(child: ChildView) -> str:
    return " ".join(a.client_status for a in child.allocations) or "no allocation yet"


def changes(before: Snapshot, after: Snapshot) -> list[str]:
    """What changed between two snapshots, one line each, for output that is not a terminal."""
    lines = []
    old_jobs = {job.id: (job.status, job.conclusion, job.runner_name) for job in before.jobs}
    for job in after.jobs:
        if old_jobs.get(job.id) != (job.status, job.conclusion, job.runner_name):
            where = f" on {job.runner_name}" if job.runner_name else ""
            ending = f" ({job.conclusion})" if job.conclusion else ""
            labels = ", ".join(job.labels)
            lines.append(f"job {job.id} {job.name} [{labels}]: {job.status}{ending}{where}")
    old_children = {child.id: (child.status, _allocations(child)) for child in before.children}
    for child in after.children:
        allocations = _allocations(child)
        if child.id not in old_children:
            # GITHUB_JOB_ID 0: a scale set's runner, for whichever job comes first (rod listen)
            purpose = (
                f"job {child.github_job_id}"
                if child.github_job_id
                else f"runner {child.runner_name}"
            )
            lines.append(f"nomad: dispatched {child.id} for {purpose} ({allocations})")
        elif old_children[child.id] != (child.status, allocations):
            lines.append(f"nomad: {child.id} {child.status}, allocation {allocations}")
    old_runners = {runner.id: (runner.status, runner.busy) for runner in before.runners}
    for runner in after.runners:
        state = f"{runner.status}{', busy' if runner.busy else ''}"
        if runner.id not in old_runners:
            labels = ", ".join(runner.labels)
            lines.append(f"github: runner {runner.name} registered [{labels}] ({state})")
        elif old_runners[runner.id] != (runner.status, runner.busy):
            lines.append(f"github: runner {runner.name} {state}")
    now = {runner.id for runner in after.runners}
    lines += [f"github: runner {r.name} removed" for r in before.runners if r.id not in now]
    return lines


def summary(verdicts: list[Verdict], snapshot: Snapshot) -> Table:
    """One row per job: what it asked for, where it ran, and whether that is what we promise."""
    table = Table(title="Summary", title_justify="left")
    for column in ("job", "labels", "status", "runner", "verdict"):
        table.add_column(column)
    for verdict in verdicts:
        job = verdict.job
        mark = Text("ok  ", style="green") if verdict.ok else Text("FAIL ", style="bold red")
        table.add_row(
            job.name,
            ", ".join(job.labels),
            f"{job.status}/{job.conclusion or '-'}",
            job.runner_name or "-",
            mark + Text(verdict.detail),
        )
    return table
