"""The runners of one scale set as the listener knows them, and how many to make or retire. Pure.

The scale set's statistics say how many runners are wanted: min(min + totalAssignedJobs, max),
level-triggered ([S] README, ARC scaler.go). The runners there are come from Nomad, which outlives
the listener: the live children of the pool's job whose RUNNER_NAME has this scale set's prefix,
plus the runners the pipeline is still making (queued, or between generatejitconfig and the
dispatch). A runner named in a JobCompleted no longer counts, even while its allocation winds
down. So a restarted listener counts what its predecessor left running, and never makes a runner
twice: each name is new (the prefix and a random suffix), and the name is the Nomad
idempotency token, so a retried dispatch cannot make a second child either.

Surplus runners (jobs cancelled before a runner took them) are retired newest first, never a busy
one (JobStarted without JobCompleted), never one the pipeline still holds, never one younger than
the idle grace (statistics can dip for a moment, e.g. during GitHub's reassignment). A runner
whose child is gone before its JobCompleted arrived still counts for the idle grace: the
statistics count its job until that message comes, and no runner is made for a job that ended.

A runner's credential Variable (carrier.py) is spent once its runner is online or busy, or once
no live child may read it and it is older than the boot timeout (as the reconciler judges `rod
serve`'s: reconcile/stored.py); never while the pipeline holds the runner.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field

from runners_on_demand.listen.protocol import JobEntry, ScaleSetInfo, Statistics, desired_runners
from runners_on_demand.observed import Child, Runner
from runners_on_demand.ports.protocols import VariableMeta

__all__ = ["Fleet", "Plan", "runner_prefix", "spent_credentials"]


# The names any listener gives its runners (`runner_prefix` + a random suffix).
_LISTENER_RUNNER = re.compile(r"rod-ss\d+-")


def runner_prefix(scale_set_id: int) -> str:
    """`rod-ss{id}-`, never the webhook path's `rod-{job}-{attempt}`: neither touches the other."""
    return f"rod-ss{scale_set_id}-"


@dataclass(frozen=True)
class Plan:
    """What one evaluation asks for."""

    desired: int
    current: int
    # One per runner to make: the assignment it answers, when one is known (for its Meta).
    create: tuple[JobEntry | None, ...] = ()
    retire: tuple[Child, ...] = ()  # idle surplus, newest first


@dataclass
class Fleet:
    """What one listener knows of its scale set's runners and jobs, between messages."""

    scale_set: ScaleSetInfo
    min_runners: int
    max_runners: int
    idle_grace: float
    statistics: Statistics = field(default_factory=Statistics)
    ids: dict[str, int] = field(default_factory=dict)  # runner name -> id, as made here
    busy: set[str] = field(default_factory=set)  # JobStarted, not yet JobCompleted
    done: set[str] = field(default_factory=set)  # JobCompleted: used up, maybe still exiting
    waiting: dict[int, JobEntry] = field(default_factory=dict)  # assigned; no runner made for it
    unacquired: dict[int, JobEntry] = field(default_factory=dict)  # JobAvailable to acquire
    leftovers: list[int] = field(default_factory=list)  # made here, never dispatched: remove
    counted: set[str] = field(default_factory=set)  # held, not done at the last plan; or made
    vanished: dict[str, float] = field(default_factory=dict)  # gone without JobCompleted: since

    @property
    def prefix(self) -> str:
        """The names of this scale set's runners start with it."""
        return runner_prefix(self.scale_set.id)

    def mine(self, name: str) -> bool:
        """Whether `name` is a runner of this scale set made by a listener."""
        return name.startswith(self.prefix)

    def new_name(self, suffix: Callable[[], str]) -> str:
        """A fresh runner name, also its Nomad idempotency token."""
        return f"{self.prefix}{suffix()}"

    def made(self, name: str) -> None:
        """A runner the last plan made is counted as one it saw: one whose child started, ran
        its job and exited before the next plan looked keeps its place like any other."""
        self.counted.add(name)

    def apply(self, entry: JobEntry) -> None:
        """Follow one job entry of a message; applying it twice changes nothing more."""
        request = entry.request_id
        if entry.kind == "JobAvailable":
            self.unacquired[request] = entry
            return
        self.unacquired.pop(request, None)
        if entry.kind == "JobAssigned":
            self.waiting[request] = entry
            return
        self.waiting.pop(request, None)
        if not self.mine(entry.runner_name):
            return  # a reassignment's JobCompleted names no runner
        if entry.kind == "JobStarted":
            self.busy.add(entry.runner_name)
        elif entry.kind == "JobCompleted":
            self.busy.discard(entry.runner_name)
            self.done.add(entry.runner_name)

    def live(self, children: Iterable[Child]) -> dict[str, Child]:
        """This scale set's children that Nomad still runs, by runner name."""
        found = {}
        for child in children:
            name = child.meta.get("RUNNER_NAME", "")
            if child.live and self.mine(name):
                found[name] = child
        return found

    def plan(self, children: Iterable[Child], in_flight: set[str], now: float) -> Plan:
        """Runners to make and to retire, from the statistics and what runs now."""
        live = self.live(children)
        held = set(live) | {name for name in in_flight if self.mine(name)}
        # A runner counted last time whose child is gone with no JobCompleted for it yet: its
        # job most likely ended just now, and the statistics still count it until the message
        # comes. It keeps its place for the idle grace, so that no runner is made for that job.
        for name in self.counted - held - self.done:
            self.vanished.setdefault(name, now)
        self.vanished = {
            name: since
            for name, since in self.vanished.items()
            if name not in self.done and now - since < self.idle_grace
        }
        # Forget what neither Nomad nor the pipeline holds any more.
        self.done &= held | set(self.vanished)
        self.busy &= held
        self.ids = {name: runner_id for name, runner_id in self.ids.items() if name in held}
        self.counted = held - self.done
        current = self.counted | set(self.vanished)
        desired = desired_runners(self.statistics, self.min_runners, self.max_runners)
        if desired > len(current):
            wanted = desired - len(current)
            answers = list(self.waiting.values())[:wanted]
            for entry in answers:
                del self.waiting[entry.request_id]
            return Plan(desired, len(current), create=(*answers, *[None] * (wanted - len(answers))))
        idle = [
            child
            for name, child in live.items()
            if name in current
            and name not in self.busy
            and name not in in_flight
            and now - child.submit_time >= self.idle_grace
        ]
        idle.sort(key=lambda child: child.submit_time, reverse=True)
        return Plan(desired, len(current), retire=tuple(idle[: len(current) - desired]))


def spent_credentials(
    fleet: Fleet,
    stored: Iterable[VariableMeta],
    runners: Iterable[Runner],
    live: Collection[str],
    held: Collection[str],
    now: float,
    boot_timeout: float,
) -> list[VariableMeta]:
    """Listener runners' credential Variables nobody will read again (module docstring).

    `live` names the runners of every live child of the pool's job. A Variable of an earlier
    scale set (made again under a new id) can only be unread: its runners are not listed here.
    """
    listed = {runner.name: runner for runner in runners}
    spent = []
    for variable in stored:
        name = variable.path.rpartition("/")[2]
        if _LISTENER_RUNNER.match(name) is None or name in held:
            continue
        runner = listed.get(name) if fleet.mine(name) else None
        used = runner is not None and (runner.status == "online" or runner.busy)
        unread = name not in live and now - variable.modify_time > boot_timeout
        if used or unread:
            spent.append(variable)
    return spent
