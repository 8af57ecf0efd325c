"""Review finding: `rod reconcile --once` (a fresh process each run) never retires a childless runner."""

from __future__ import annotations

from runners_on_demand.observed import Runner
from runners_on_demand.reconcile.loop import Reconciler, ServedRepos
from runners_on_demand.reconcile.plan import Retire, RetireReason
from tests.runners_on_demand.fakes import FakeGitHub, FakeNomad, pipeline
from tests.runners_on_demand.reconcile.test_loop import POLICY, REPO, Clock


async def test_a_periodic_once_run_retires_a_childless_runner_after_the_grace() -> None:
    # A JIT runner a crashed `rod serve` registered but never handed to Nomad: no child, no job.
    github, nomad = FakeGitHub(), FakeNomad()
    github.runners[REPO] = [Runner(REPO, 70, "rod-7-1", "offline", False, ("self-hosted",))]
    clock = Clock()
    retired: list[RetireReason] = []
    # README: with interval_seconds = 0, `rod reconcile --once` "from a periodic job" does the
    # clean-up; each run is a new process, i.e. a new Reconciler. Run it every 5 minutes for 1 h.
    for _ in range(12):
        made = Reconciler(
            github, nomad, pipeline(github, nomad), policy=POLICY,
            repos=ServedRepos((REPO,)), clock=clock,
        )
        report = await made.tick()
        assert report.plan is not None
        retired += [a.reason for a in report.plan.actions if isinstance(a, Retire)]
        clock.now += 300.0  # far past idle_grace_seconds (60)
    assert RetireReason.NO_NOMAD_JOB in retired, "childless runner kept by every --once run"


async def test_control_one_long_lived_reconciler_does_retire_it() -> None:
    github, nomad = FakeGitHub(), FakeNomad()
    github.runners[REPO] = [Runner(REPO, 70, "rod-7-1", "offline", False, ("self-hosted",))]
    clock = Clock()
    made = Reconciler(
        github, nomad, pipeline(github, nomad), policy=POLICY,
        repos=ServedRepos((REPO,)), clock=clock,
    )
    await made.tick()
    clock.now += 300.0
    report = await made.tick()
    assert report.plan is not None
    assert [a.reason for a in report.plan.actions if isinstance(a, Retire)] == [
        RetireReason.NO_NOMAD_JOB
    ]
