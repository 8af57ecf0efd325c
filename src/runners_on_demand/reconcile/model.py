"""The reconciler's model: what the plan reads (an Observation under a policy) and what it says.

Pure data; `units.py` joins what was observed into units, `plan.py` balances them.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from runners_on_demand.decision import Policy, StartRunner
from runners_on_demand.events import WorkflowJobEvent
from runners_on_demand.observed import Child, QueuedJob, Runner
from runners_on_demand.ports.protocols import VariableMeta
from runners_on_demand.reconcile.settings import ReconcileSettings

__all__ = [
    "Action",
    "Demand",
    "Destroy",
    "InFlight",
    "MakeRunner",
    "Observation",
    "Plan",
    "ReconcilePolicy",
    "Retire",
    "RetireReason",
]


@dataclass(frozen=True)
class InFlight:
    """A runner queued for dispatch in this process: its scope, name and job labels."""

    repo: str  # the scope key: its job's repository, or the organization of an org runner
    name: str
    labels: tuple[str, ...]


@dataclass(frozen=True)
class Observation:
    """What GitHub and Nomad showed, for the repositories in `repos` only."""

    now: float
    # Scopes read in full (`RunnerScope.key`): repositories (lower-case owner/name) whose queued
    # jobs (and runners, with repository pools) were read, and organizations whose runners and
    # served repositories were.
    repos: frozenset[str]
    # Queued jobs listed after the runners: a job taken meanwhile is gone here while the runner
    # that took it may still look idle, so a shortfall counted from this list is never too big.
    jobs: tuple[QueuedJob, ...]
    # Listed before the runners: a JIT runner is made before its child, so every child seen
    # has its runner in the later runner list unless that runner is gone.
    children: tuple[Child, ...]
    runners: tuple[Runner, ...]
    # Runner name -> when this process first saw it: the age of a runner with neither a child
    # nor a credential Variable (nothing else that outlives a process dates it).
    first_seen: Mapping[str, float] = field(default_factory=dict)
    # The same listing made before the runners (None: `jobs` serves for both): a job taken
    # meanwhile still counts here while its runner looks busy, so a surplus is never too big.
    earlier_jobs: tuple[QueuedJob, ...] | None = None
    # Runners this process has queued for dispatch but not made yet (a backlog the listings
    # cannot show): capacity for their label set, and their own jobs count as served.
    in_flight: tuple[InFlight, ...] = ()
    # The runner credential Variables listed (stored.py). A childless runner's age is its
    # Variable's ModifyTime (`GET /v1/vars` lists it): the credential of the runner of that name
    # that exists was written after that runner was made, and Nomad keeps it across restarts of
    # rod, so a fresh `rod reconcile --once` dates the runner as a long-lived reconciler would.
    credentials: tuple[VariableMeta, ...] = ()
    # Served scopes not read in full this tick (a failed or rate-limited read; a 404 is not one):
    # a childless credential Variable, which does not say its repository, waits for them.
    unread: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ReconcilePolicy:
    """What the plan follows: the webhook path's decision and the `[reconcile]` settings."""

    decision: Policy = field(default_factory=Policy)
    settings: ReconcileSettings = field(default_factory=ReconcileSettings)
    # JIT mode: the runner exists on GitHub before its child starts (registration-token: after).
    runner_precreated: bool = True


class RetireReason(enum.StrEnum):
    """Why a runner of ours is retired."""

    ALLOCATION_FAILED = "allocation failed"
    JOB_ENDED = "its Nomad job ended"
    NO_NOMAD_JOB = "no Nomad job"
    RUNNER_GONE = "runner gone"
    NEVER_REGISTERED = "never registered"
    NEVER_CONNECTED = "never connected"
    SURPLUS = "no queued job for its labels"


@dataclass(frozen=True)
class MakeRunner:
    """Make a runner for this queued job (credential, then Nomad dispatch)."""

    event: WorkflowJobEvent
    start: StartRunner
    retry: int  # 0: the job's first runner (the webhook path's own name)
    stored: bool = False  # this runner exists and its credential is stored; only no child came

    @property
    def runner_name(self) -> str:
        """The runner it makes (or dispatches again)."""
        return self.start.runner_name

    @property
    def reason(self) -> str:
        """Why, for people."""
        if self.stored:
            return "stored credential, no Nomad job"
        return f"retry {self.retry}" if self.retry else "no runner (missed webhook?)"


@dataclass(frozen=True)
class Retire:
    """Remove runner `runner_id` (skip all on 422: busy), then stop child `child_id`."""

    repo: str  # where the runner is registered: a repository or an organization (scope key)
    runner_name: str
    runner_id: int | None  # None: look the name up again first (the list may be stale)
    child_id: str | None  # None or a child that is no longer live: nothing to stop
    reason: RetireReason


Action = MakeRunner | Retire


@dataclass(frozen=True)
class Destroy:
    """Destroy a runner credential Variable nobody will read again (stored.py), and why."""

    variable: VariableMeta
    why: str

    @property
    def runner_name(self) -> str:
        """The runner whose credential it holds (the path's last part)."""
        return self.variable.path.rpartition("/")[2]


@dataclass(frozen=True)
class Demand:
    """Queued jobs against idle units for one repository and exact label set."""

    repo: str
    labels: tuple[str, ...]
    queued: int
    idle: int


@dataclass(frozen=True)
class Plan:
    """The actions (stored runners dispatched again last), and what the plan saw, for
    `rod reconcile --once` to print."""

    actions: tuple[Action, ...]
    demand: tuple[Demand, ...]
    busy: int  # busy runners of ours: never touched
    gave_up: tuple[str, ...]  # "owner/repo#job": still queued, out of retries
    destroy: tuple[Destroy, ...] = ()  # spent credential Variables, destroyed after the actions
