"""One typed World per scenario: the stack it runs on and what the scenario has done so far."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

from simulator.harness.observe import ChildView, JobView, RunnerView
from simulator.harness.recording import Tape
from simulator.harness.stack import Stack


@dataclass
class World:
    """State one scenario carries from step to step; built fresh in before_scenario."""

    stack: Stack
    timeout: float
    job_seconds: float
    # The repository the scenario's jobs run in; the stack's own unless a step chose another.
    repo: str = ""
    # The workflow runs the scenario started.
    run_ids: list[int] = field(default_factory=list)
    # The job the scenario follows, its Nomad child and its runner, once observed.
    job: JobView | None = None
    child: ChildView | None = None
    runner: RunnerView | None = None
    # Calls the scenario made to `rod serve` itself, which no emulator logs.
    tape: Tape = field(default_factory=Tape)
    # What a Given or When noted for a later Then.
    # Nomad's injected outage: how many dispatch requests fail, and with which status.
    outage: tuple[int, int] | None = None
    # A forged webhook: how it was signed, and the dispatcher's answer.
    forged: tuple[str, httpx.Response] | None = None
    # A listener metric's value before the fault, and the session the listener held then.
    metric_before: float = 0.0
    session_id: str = ""
    # A secret rotation: the hook's deliveries GitHub had logged when the dispatcher restarted,
    # how many since were signed with the old secret, and Nomad's dispatch calls before a
    # delivery signed with it was posted.
    deliveries_before: int = 0
    signed_with_old: int = 0
    dispatches_before: int = 0

    def __post_init__(self) -> None:
        self.repo = self.repo or self.stack.repo

    def followed_job(self) -> JobView:
        """The job the scenario follows; a step before must have set it."""
        assert self.job is not None, "no workflow job yet: a step must trigger one first"
        return self.job

    def followed_child(self) -> ChildView:
        """The Nomad child serving the followed job; a step before must have found it."""
        assert self.child is not None, "no Nomad child yet: a step must wait for one first"
        return self.child
