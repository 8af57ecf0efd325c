"""What GitHub and Nomad show at one moment, as plain data the checks and the demo read."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from simulator.harness.github_client import GitHubApi
from simulator.harness.nomad_client import LIVE_CLIENT_STATUSES, NomadApi


@dataclass(frozen=True)
class JobView:
    """A workflow job as the GitHub jobs API shows it."""

    id: int
    run_id: int
    name: str
    labels: tuple[str, ...]
    status: str
    conclusion: str | None
    runner_id: int | None
    runner_name: str | None
    runner_group_name: str | None = None  # the group of the runner that took it

    @classmethod
    def from_api(cls, job: dict[str, Any]) -> JobView:
        """From a `GET /repos/{o}/{r}/actions/jobs/{id}` body."""
        return cls(
            id=int(job["id"]),
            run_id=int(job["run_id"]),
            name=str(job["name"]),
            labels=tuple(job.get("labels") or ()),
            status=str(job["status"]),
            conclusion=job.get("conclusion"),
            runner_id=job.get("runner_id"),
            runner_name=job.get("runner_name"),
            runner_group_name=job.get("runner_group_name"),
        )

    @property
    def self_hosted(self) -> bool:
        """True when the job asks for a self-hosted runner."""
        return any(label.lower() == "self-hosted" for label in self.labels)


@dataclass(frozen=True)
class AllocationView:
    """A Nomad allocation stub."""

    id: str
    client_status: str

    @property
    def live(self) -> bool:
        """True while the allocation holds resources (pending or running)."""
        return self.client_status in LIVE_CLIENT_STATUSES


@dataclass(frozen=True)
class ChildView:
    """A dispatched child of the runner job, with its allocations."""

    id: str
    status: str
    meta: dict[str, str]
    allocations: tuple[AllocationView, ...]

    @property
    def runner_name(self) -> str | None:
        """The runner this child was dispatched to start (Meta RUNNER_NAME)."""
        return self.meta.get("RUNNER_NAME")

    @property
    def github_job_id(self) -> int | None:
        """The workflow job this child serves (Meta GITHUB_JOB_ID)."""
        value = self.meta.get("GITHUB_JOB_ID")
        return int(value) if value and value.isdigit() else None

    @property
    def labels(self) -> tuple[str, ...]:
        """The labels the runner should carry (Meta RUNNER_LABELS, comma-joined)."""
        raw = self.meta.get("RUNNER_LABELS", "")
        return tuple(label for label in raw.split(",") if label)


@dataclass(frozen=True)
class RunnerView:
    """A self-hosted runner as the GitHub runners API shows it."""

    id: int
    name: str
    status: str
    busy: bool
    labels: tuple[str, ...]

    @classmethod
    def from_api(cls, runner: dict[str, Any]) -> RunnerView:
        """From a `GET /repos/{o}/{r}/actions/runners` entry."""
        return cls(
            id=int(runner["id"]),
            name=str(runner["name"]),
            status=str(runner.get("status", "")),
            busy=bool(runner.get("busy")),
            labels=tuple(label["name"] for label in runner.get("labels", ())),
        )


@dataclass(frozen=True)
class Snapshot:
    """Jobs, Nomad children and GitHub runners observed together."""

    jobs: tuple[JobView, ...] = ()
    children: tuple[ChildView, ...] = ()
    runners: tuple[RunnerView, ...] = ()

    @property
    def live_allocations(self) -> list[AllocationView]:
        """Allocations still pending or running, over every child."""
        return [a for child in self.children for a in child.allocations if a.live]

    def children_for_job(self, job_id: int) -> list[ChildView]:
        """Nomad children dispatched for one workflow job."""
        return [child for child in self.children if child.github_job_id == job_id]

    def job(self, job_id: int) -> JobView | None:
        """One job by ID, if observed."""
        return next((job for job in self.jobs if job.id == job_id), None)

    def describe(self) -> str:
        """One line: the state of every job, child and runner."""
        jobs = ", ".join(
            f"job {j.id} {j.name} {j.status}/{j.conclusion or '-'} on {j.runner_name or '-'}"
            for j in self.jobs
        )
        children = ", ".join(
            f"{c.id} [{c.runner_name}] {c.status} "
            f"allocs={'/'.join(a.client_status for a in c.allocations) or '-'}"
            for c in self.children
        )
        runners = ", ".join(
            f"{r.name}#{r.id} {r.status}{' busy' if r.busy else ''} {list(r.labels)}"
            for r in self.runners
        )
        return (
            f"jobs: {jobs or 'none'}; children: {children or 'none'}; runners: {runners or 'none'}"
        )


@dataclass
class RunnerLedger:
    """Every runner ever seen registered: an ephemeral runner may be gone at the next look."""

    seen: dict[int, RunnerView] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, runners: Iterable[RunnerView]) -> None:
        """Remember the runners of one observation (first sighting wins)."""
        with self._lock:
            for runner in runners:
                self.seen.setdefault(runner.id, runner)

    def named(self, name: str) -> list[RunnerView]:
        """Runners seen with this name."""
        with self._lock:
            return [runner for runner in self.seen.values() if runner.name == name]

    def clear(self) -> None:
        """Forget everything (a new scenario)."""
        with self._lock:
            self.seen.clear()


def decode_payload(job: dict[str, Any]) -> dict[str, Any]:
    """The dispatch payload of a Nomad child: base64 JSON (docs/architecture.md)."""
    raw = job.get("Payload")
    if not raw:
        return {}
    decoded: dict[str, Any] = json.loads(base64.b64decode(raw))
    return decoded


class Observer:
    """Takes snapshots of a repository on GitHub and the runner job's children on Nomad.

    Runners are read where they are registered: the repository, or `runners_at` (an org).
    """

    def __init__(
        self,
        github: GitHubApi,
        nomad: NomadApi,
        repo: str,
        parent_job: str,
        *,
        runners_at: str | None = None,
    ) -> None:
        self.github = github
        self.nomad = nomad
        self.repo = repo
        self.parent_job = parent_job
        self.runners_at = runners_at or repo
        self.ledger = RunnerLedger()

    def jobs(self, run_ids: Iterable[int], repo: str | None = None) -> tuple[JobView, ...]:
        """The jobs of the given workflow runs (of `repo`, by default the observer's)."""
        return tuple(
            JobView.from_api(job)
            for run_id in run_ids
            for job in self.github.list_run_jobs(repo or self.repo, run_id)
        )

    def children(self) -> tuple[ChildView, ...]:
        """Every child of the runner job, with its allocations."""
        return tuple(
            ChildView(
                id=stub["ID"],
                status=stub.get("Status", ""),
                meta=dict(stub.get("Meta") or {}),
                allocations=tuple(
                    AllocationView(id=a["ID"], client_status=a.get("ClientStatus", ""))
                    for a in self.nomad.list_allocations(stub["ID"])
                ),
            )
            for stub in self.nomad.list_children(self.parent_job)
        )

    def runners(self) -> tuple[RunnerView, ...]:
        """Runners registered now (also recorded in the ledger)."""
        runners = tuple(RunnerView.from_api(r) for r in self.github.list_runners(self.runners_at))
        self.ledger.record(runners)
        return runners

    def snapshot(self, run_ids: Iterable[int] = (), repo: str | None = None) -> Snapshot:
        """Jobs of `run_ids` (of `repo`), children and runners, read one after the other."""
        jobs = self.jobs(run_ids, repo)
        return Snapshot(jobs=jobs, children=self.children(), runners=self.runners())
