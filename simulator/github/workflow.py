"""The Actions objects: workflow runs, their jobs, self-hosted runners; lifecycles as data.

actions.py moves them (`Actions`); representations.py renders them. Pure data: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from simulator.lifecycle import lifecycle

# Job states and transitions; `waiting` is for environment protection rules.
JOB_LIFECYCLE = lifecycle(
    "workflow_job",
    {
        "waiting": ("queued", "completed"),
        "queued": ("in_progress", "completed"),
        "in_progress": ("completed",),
        "completed": (),
    },
)
# Runner states: `idle`/`busy` are GitHub's status "online" with busy false/true.
RUNNER_LIFECYCLE = lifecycle(
    "runner",
    {
        "offline": ("idle", "deleted"),
        "idle": ("busy", "offline", "deleted"),
        "busy": ("idle", "offline", "deleted"),
        "deleted": (),
    },
)
CONCLUSIONS = ("success", "failure", "cancelled", "skipped", "neutral", "timed_out")
RUNNER_VERSION = "2.329.0"


@dataclass
class JobSpec:
    """What a scripted job should look like and do."""

    name: str
    labels: list[str]
    duration_seconds: float = 0.0
    conclusion: str = "success"
    waiting: bool = False


@dataclass
class Runner:
    """A self-hosted runner registered at repo (`owner/name`) or org (`org`) scope."""

    id: int
    name: str
    scope: str
    labels: list[str]
    group_id: int
    secret: str
    created_at: float
    jit: bool
    ephemeral: bool
    state: str = "offline"
    version: str | None = None
    session_id: str | None = None
    job_id: int | None = None
    jobs_taken: int = 0
    scale_set_id: int | None = None  # set for a runner made by a scale set's generatejitconfig

    def move(self, new: str) -> None:
        """Change state through RUNNER_LIFECYCLE."""
        self.state = RUNNER_LIFECYCLE.check(self.state, new)

    def matches(self, labels: Iterable[str]) -> bool:
        """True when this runner has every label in `labels`, case-insensitively."""
        mine = {label.casefold() for label in self.labels}
        return all(label.casefold() in mine for label in labels)


@dataclass
class Step:
    """One step of a job, as the runner would report it."""

    name: str
    number: int
    status: str
    conclusion: str | None
    started_at: float | None
    completed_at: float | None


@dataclass
class Job:
    """A workflow job and where it is in JOB_LIFECYCLE."""

    id: int
    run_id: int
    repo: str
    spec: JobSpec
    workflow_name: str
    head_sha: str
    head_branch: str
    created_at: float
    status: str
    run_attempt: int = 1
    conclusion: str | None = None
    started_at: float | None = None
    completed_at: float | None = None
    runner_id: int | None = None
    runner_name: str | None = None
    runner_group_id: int | None = None
    runner_group_name: str | None = None
    steps: list[Step] = field(default_factory=list)

    def move(self, new: str) -> None:
        """Change status through JOB_LIFECYCLE."""
        self.status = JOB_LIFECYCLE.check(self.status, new)


@dataclass
class Run:
    """A workflow run: a named set of jobs started by one event."""

    id: int
    repo: str
    name: str
    event: str
    head_sha: str
    head_branch: str
    run_number: int
    created_at: float
    jobs: list[Job] = field(default_factory=list)

    @property
    def status(self) -> str:
        """completed when all jobs are; else in_progress, queued or waiting."""
        statuses = {job.status for job in self.jobs}
        for status in ("in_progress", "queued", "waiting"):
            if status in statuses:
                return status
        return "completed"

    @property
    def conclusion(self) -> str | None:
        """failure or cancelled if any job says so, else success; None until completed."""
        if self.status != "completed":
            return None
        outcomes = {job.conclusion for job in self.jobs}
        for outcome in ("failure", "cancelled", "timed_out"):
            if outcome in outcomes:
                return outcome
        return "success"


class Placement(Protocol):
    """Which runner may take which job, and the group name a job records (runner groups)."""

    def runner_may_take(self, runner: Runner, job: Job) -> bool:
        """True when `runner` may serve `job`'s repository."""

    def runner_group_name(self, runner: Runner) -> str:
        """The name of `runner`'s group."""


class ScopePlacement:
    """Without runner groups: repo runners serve their repository, org runners the whole org."""

    def runner_may_take(self, runner: Runner, job: Job) -> bool:
        """True when the runner is the job's repository's or its owner's."""
        return runner.scope in (job.repo, job.repo.split("/")[0])

    def runner_group_name(self, runner: Runner) -> str:
        """Every runner is in "Default"."""
        return "Default"


def first_ids() -> dict[str, int]:
    """The last id handed out of each kind, before any was."""
    return {"run": 30433642 * 100, "job": 8000000000, "runner": 20}
