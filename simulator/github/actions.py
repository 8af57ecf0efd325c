"""The Actions job queue: workflow runs, their jobs, self-hosted runners and who takes what.

Facts relied on (GitHub's docs, and the issue threads cited where used):
- a job goes to any online, idle runner whose labels contain all of the job's labels, compared
  case-insensitively, and that may serve the job's repository (its own repository's runners;
  an org's runners when their runner group allows the repository: the backend's `Placement`);
  a runner is never reserved for one job
  (https://docs.github.com/actions/hosting-your-own-runners/managing-self-hosted-runners/using-labels-with-self-hosted-runners);
- a job cancelled while queued or waiting completes as `cancelled` with no runner and no steps;
- a JIT runner runs at most one job and is then removed; one that never runs a job is removed
  automatically (data/reusables/actions/jit-runner-removal.md in github/docs).
Pure state: no I/O. Every job transition is reported to `emit(job, action)`.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from simulator.clock import Clock
from simulator.github.errors import Conflict, NotFound, RunnerCredentialRejected, ValidationFailed
from simulator.github.workflow import (
    CONCLUSIONS,
    JOB_LIFECYCLE,
    RUNNER_LIFECYCLE,
    RUNNER_VERSION,
    Job,
    JobSpec,
    Placement,
    Run,
    Runner,
    ScopePlacement,
    Step,
    first_ids,
)

__all__ = [
    "CONCLUSIONS",
    "JOB_LIFECYCLE",
    "RUNNER_LIFECYCLE",
    "RUNNER_VERSION",
    "Actions",
    "Job",
    "JobSpec",
    "Placement",
    "Run",
    "Runner",
    "ScopePlacement",
    "Step",
    "first_ids",
]

Emit = Callable[["Job", str], None]


class Actions:
    """Runs, jobs and runners of every repository, and the rules that move them."""

    def __init__(
        self,
        clock: Clock,
        emit: Emit,
        *,
        jit_connect_timeout: float = 600.0,
        ids: dict[str, int] | None = None,
        placement: Placement | None = None,
    ) -> None:
        self.clock = clock
        self.emit = emit
        self.placement = placement or ScopePlacement()
        self.jit_connect_timeout = jit_connect_timeout
        self.runs: dict[int, Run] = {}
        self.jobs: dict[int, Job] = {}
        self.runners: dict[int, Runner] = {}
        # GitHub never reuses an id; pass the same `ids` to a new Actions to keep it so.
        self._ids = ids if ids is not None else first_ids()
        self._run_numbers: dict[str, int] = {}
        self._retired: set[str] = set()  # secrets of runners removed after their job

    def _next(self, kind: str) -> int:
        self._ids[kind] += 1
        return self._ids[kind]

    # --- runs and jobs ---------------------------------------------------------------------

    def create_run(
        self, repo: str, *, name: str, event: str, head_branch: str, jobs: list[JobSpec]
    ) -> Run:
        """Start a run whose jobs are queued (or waiting) at once, emitting one event each."""
        if not jobs:
            raise ValidationFailed("a run needs at least one job")
        for spec in jobs:
            if not spec.labels or not all(isinstance(x, str) and x for x in spec.labels):
                raise ValidationFailed(f"job {spec.name!r} needs one or more labels")
            if spec.conclusion not in CONCLUSIONS:
                raise ValidationFailed(f"unknown conclusion {spec.conclusion!r}")
        now = self.clock.now()
        self._run_numbers[repo] = self._run_numbers.get(repo, 0) + 1
        run = Run(
            id=self._next("run"),
            repo=repo,
            name=name,
            event=event,
            head_sha=secrets.token_hex(20),
            head_branch=head_branch,
            run_number=self._run_numbers[repo],
            created_at=now,
        )
        self.runs[run.id] = run
        for spec in jobs:
            status = "waiting" if spec.waiting else "queued"
            job = Job(
                id=self._next("job"),
                run_id=run.id,
                repo=repo,
                spec=spec,
                workflow_name=name,
                head_sha=run.head_sha,
                head_branch=head_branch,
                created_at=now,
                status=status,
                started_at=now,
            )
            run.jobs.append(job)
            self.jobs[job.id] = job
            if spec.waiting:  # `queued` first, its status `waiting` (webhook example 06), then
                self.emit(job, "queued")  # `waiting` (07); `queued` again once approved
            self.emit(job, status)
        return run

    def get_job(self, job_id: int, *, repo: str | None = None) -> Job:
        """One job, 404 if unknown (or in another repository)."""
        job = self.jobs.get(job_id)
        if job is None or (repo is not None and job.repo != repo):
            raise NotFound()
        return job

    def get_run(self, run_id: int, *, repo: str) -> Run:
        """One run of `repo`, 404 if unknown."""
        run = self.runs.get(run_id)
        if run is None or run.repo != repo:
            raise NotFound()
        return run

    def approve_job(self, job_id: int) -> Job:
        """A waiting job passes its environment protection rules and is queued."""
        job = self.get_job(job_id)
        job.move("queued")
        self.emit(job, "queued")
        return job

    def cancel_job(self, job_id: int) -> Job:
        """Cancel: a job not yet started completes with no runner, steps [] and one event."""
        job = self.get_job(job_id)
        if job.status == "completed":
            raise Conflict("Cannot cancel a job that has completed.")
        never_started = job.status in ("queued", "waiting")
        job.move("completed")
        job.conclusion = "cancelled"
        if never_started:
            job.steps = []
            job.completed_at = job.started_at
        else:
            job.completed_at = self.clock.now()
        self.emit(job, "completed")
        return job

    # --- runners ---------------------------------------------------------------------------

    def add_runner(
        self, scope: str, *, name: str, labels: list[str], group_id: int, jit: bool, ephemeral: bool
    ) -> Runner:
        """Register a runner (offline until it opens a session); 409 if the name is taken."""
        self.sweep()
        if any(r.scope == scope and r.name == name for r in self.runners.values()):
            # GitHub's 409 text, as clients log it (ubicloud/ubicloud#692, runs-on/runs-on#30).
            raise Conflict(f"Already exists - A runner with the name {name} already exists.")
        runner = Runner(
            id=self._next("runner"),
            name=name,
            scope=scope,
            labels=list(labels),
            group_id=group_id,
            secret=secrets.token_urlsafe(32),
            created_at=self.clock.now(),
            jit=jit,
            ephemeral=ephemeral,
        )
        self.runners[runner.id] = runner
        return runner

    def list_runners(self, scope: str, *, name: str | None = None) -> list[Runner]:
        """Runners of one scope, oldest first, optionally only the one called `name`."""
        self.sweep()
        return [r for r in self.runners.values() if r.scope == scope and name in (None, r.name)]

    def get_runner(self, scope: str, runner_id: int) -> Runner:
        """One runner of `scope`, 404 if unknown."""
        self.sweep()
        runner = self.runners.get(runner_id)
        if runner is None or runner.scope != scope:
            raise NotFound()
        return runner

    def delete_runner(self, scope: str, runner_id: int) -> None:
        """Remove a runner; 422 while it runs a job (ubicloud#1678, iterative/cml#1255)."""
        runner = self.get_runner(scope, runner_id)
        if runner.state == "busy":
            raise ValidationFailed(
                f'Bad request - Runner "{runner.name}" is still running a job',
            )
        self._remove(runner)

    def _remove(self, runner: Runner) -> None:
        runner.move("deleted")
        del self.runners[runner.id]
        if runner.jobs_taken:
            self._retired.add(runner.secret)

    def sweep(self) -> list[Runner]:
        """Remove JIT runners that never connected within the timeout (checked lazily)."""
        deadline = self.clock.now() - self.jit_connect_timeout
        stale = [
            r
            for r in self.runners.values()
            if r.jit and r.version is None and r.created_at <= deadline
        ]
        for runner in stale:
            self._remove(runner)
        return stale

    # --- what the runner does (the simulator-only runner API) -------------------------------

    def _runner_by_secret(self, secret: str) -> Runner:
        self.sweep()
        for runner in self.runners.values():
            if secrets.compare_digest(runner.secret, secret):
                return runner
        raise RunnerCredentialRejected("unknown, used or expired runner credential")

    def open_session(self, secret: str) -> Runner:
        """The runner connects: it is now online and idle."""
        runner = self._runner_by_secret(secret)
        if runner.session_id is not None:
            raise Conflict("A session for this runner already exists.")
        runner.move("idle")
        runner.session_id = secrets.token_hex(16)
        runner.version = RUNNER_VERSION
        return runner

    def _session(self, secret: str, session_id: str) -> Runner:
        runner = self._runner_by_secret(secret)
        if runner.session_id != session_id:
            raise NotFound("session not found")
        return runner

    def acquire_job(self, secret: str, session_id: str) -> Job | None:
        """Hand the oldest matching queued job to this idle runner, or None."""
        runner = self._session(secret, session_id)
        if runner.state != "idle" or (runner.jit and runner.jobs_taken):
            return None
        for job in self.jobs.values():
            if (
                job.status == "queued"
                and runner.matches(job.spec.labels)
                and self.placement.runner_may_take(runner, job)
            ):
                self._start(job, runner)
                return job
        return None

    def _start(self, job: Job, runner: Runner) -> None:
        now = self.clock.now()
        runner.move("busy")
        runner.job_id = job.id
        runner.jobs_taken += 1
        job.move("in_progress")
        job.started_at = now
        job.runner_id, job.runner_name = runner.id, runner.name
        job.runner_group_id = runner.group_id
        job.runner_group_name = self.placement.runner_group_name(runner)
        job.steps = [Step("Set up job", 1, "in_progress", None, now, None)]
        self.emit(job, "in_progress")

    def complete_job(self, secret: str, job_id: int, conclusion: str) -> Job:
        """The runner reports its job done; an ephemeral runner is then removed."""
        runner = self._runner_by_secret(secret)
        job = self.jobs.get(job_id)
        if job is None or runner.job_id != job_id:
            raise NotFound("this runner does not hold that job")
        if conclusion not in CONCLUSIONS:
            raise ValidationFailed(f"unknown conclusion {conclusion!r}")
        now = self.clock.now()
        if job.status != "completed":  # it may have been cancelled meanwhile
            job.move("completed")
            job.conclusion = conclusion
            job.completed_at = now
            step_start = job.steps[0].started_at if job.steps else now
            job.steps = [
                Step("Set up job", 1, "completed", "success", step_start, step_start),
                Step(job.spec.name, 2, "completed", conclusion, step_start, now),
                Step("Complete job", 3, "completed", "success", now, now),
            ]
            self.emit(job, "completed")
        runner.job_id = None
        if runner.ephemeral:
            self._remove(runner)
        else:
            runner.move("idle")
        return job

    def close_session(self, secret: str, session_id: str) -> None:
        """The runner disconnects and goes offline (a removed runner is already gone)."""
        if secret in self._retired:
            return
        runner = self._session(secret, session_id)
        runner.session_id = None
        runner.move("offline")
