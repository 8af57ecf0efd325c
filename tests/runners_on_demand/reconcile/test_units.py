"""Tests for runners_on_demand.reconcile.units: joining runners with children, and their state."""

from __future__ import annotations

import dataclasses

import pytest

from runners_on_demand.observed import MANAGED_BY, Child, Runner
from runners_on_demand.ports import VariableMeta
from runners_on_demand.reconcile.model import (
    InFlight,
    Observation,
    ReconcilePolicy,
    RetireReason,
)
from runners_on_demand.reconcile.settings import ReconcileSettings
from runners_on_demand.reconcile.units import Verdict, assess, join_units

NOW = 1_800_000_000.0
REPO = "octo/app"
POLICY = ReconcilePolicy(
    settings=ReconcileSettings(boot_timeout_seconds=300, idle_grace_seconds=60)
)


def child(name: str = "rod-7-1", *, age: float = 10.0, **changes: object) -> Child:
    meta = {
        "managed_by": MANAGED_BY,
        "REPO_FULL_NAME": REPO,
        "GITHUB_JOB_ID": name.split("-")[1],
        "RUNNER_NAME": name,
        "RUNNER_LABELS": "self-hosted,linux",
    }
    made = Child(
        f"github-runner/dispatch-{name}", "github-runner", "running", False, meta, NOW - age, False
    )
    return dataclasses.replace(made, **changes)  # type: ignore[arg-type]


def runner(name: str = "rod-7-1", **changes: object) -> Runner:
    made = Runner(REPO, 70, name, "online", False, ("self-hosted",))
    return dataclasses.replace(made, **changes)  # type: ignore[arg-type]


def observe(
    *, children: tuple[Child, ...] = (), runners: tuple[Runner, ...] = (), **more: object
) -> Observation:
    return Observation(NOW, frozenset({REPO}), (), children, runners, **more)  # type: ignore[arg-type]


class TestJoinUnits:
    def test_a_runner_and_its_child_are_one_unit_keyed_by_the_childs_labels(self) -> None:
        (unit,) = join_units(
            observe(children=(child(),), runners=(runner(),)), POLICY.decision, {}
        ).values()
        assert (unit.name, unit.job, unit.retry, unit.age) == ("rod-7-1", (7, 1), 0, 10.0)
        assert unit.key == (REPO, frozenset({"self-hosted", "linux"}))
        assert unit.online and unit.child is not None and unit.runner is not None

    @pytest.mark.parametrize(
        "changes",
        [
            {"meta": {"RUNNER_NAME": "rod-7-1", "REPO_FULL_NAME": REPO, "GITHUB_JOB_ID": "7"}},
            {"parent_id": "someone-elses-job"},
            {"meta": {"managed_by": MANAGED_BY, "RUNNER_NAME": "ci-7", "REPO_FULL_NAME": REPO}},
            {
                "meta": {
                    "managed_by": MANAGED_BY,
                    "RUNNER_NAME": "rod-7-1",
                    "REPO_FULL_NAME": REPO,
                    "GITHUB_JOB_ID": "8",
                }
            },
        ],
    )
    def test_a_child_we_cannot_prove_is_ours_is_invisible(self, changes: dict[str, object]) -> None:
        assert join_units(observe(children=(child(**changes),)), POLICY.decision, {}) == {}

    def test_a_runner_of_another_name_shape_or_repository_is_invisible(self) -> None:
        runners = (runner("build-box"), runner(repo="other/repo"))
        assert join_units(observe(runners=runners), POLICY.decision, {}) == {}

    def test_a_childless_runner_ages_from_when_it_was_first_seen(self) -> None:
        world = observe(runners=(runner(),), first_seen={"rod-7-1": NOW - 42})
        (unit,) = join_units(world, POLICY.decision, {}).values()
        assert unit.age == 42 and unit.child is None

    def test_a_childless_runner_with_a_stored_credential_ages_from_its_variable(self) -> None:
        # The Variable's ModifyTime outlives the process: `rod reconcile --once` reads it too.
        stored = VariableMeta("nomad/jobs/github-runner/credentials/rod-7-1", 3, NOW - 600)
        world = observe(runners=(runner(),), first_seen={"rod-7-1": NOW}, credentials=(stored,))
        (unit,) = join_units(world, POLICY.decision, {}).values()
        assert unit.age == 600

    def test_a_runner_in_flight_here_is_marked(self) -> None:
        world = observe(
            runners=(runner(),), in_flight=(InFlight(REPO, "rod-7-1", ("self-hosted",)),)
        )
        (unit,) = join_units(world, POLICY.decision, {}).values()
        assert unit.in_flight


class TestAssess:
    def units(self, world: Observation) -> Verdict | RetireReason:
        (unit,) = join_units(world, POLICY.decision, {}).values()
        return assess(unit, POLICY)

    def test_busy_is_never_retired(self) -> None:
        world = observe(children=(child(failed=True),), runners=(runner(busy=True),))
        assert self.units(world) is Verdict.BUSY

    def test_a_failed_allocation_is_retired(self) -> None:
        world = observe(children=(child(failed=True),), runners=(runner(),))
        assert self.units(world) is RetireReason.ALLOCATION_FAILED

    def test_a_childless_runner_waits_for_the_idle_grace_unless_in_flight(self) -> None:
        young = observe(runners=(runner(),), first_seen={"rod-7-1": NOW - 59})
        old = observe(runners=(runner(),), first_seen={"rod-7-1": NOW - 60})
        held = dataclasses.replace(old, in_flight=(InFlight(REPO, "rod-7-1", ()),))
        assert self.units(young) is Verdict.IDLE
        assert self.units(old) is RetireReason.NO_NOMAD_JOB
        assert self.units(held) is Verdict.IDLE

    def test_an_offline_runner_is_replaced_after_the_boot_timeout(self) -> None:
        booting = observe(children=(child(age=299),), runners=(runner(status="offline"),))
        stuck = observe(children=(child(age=300),), runners=(runner(status="offline"),))
        assert self.units(booting) is Verdict.IDLE
        assert self.units(stuck) is RetireReason.NEVER_CONNECTED

    def test_a_jit_runner_gone_after_its_job_leaves_a_child_to_stop(self) -> None:
        assert self.units(observe(children=(child(age=59),))) is Verdict.KEEP
        assert self.units(observe(children=(child(age=60),))) is RetireReason.RUNNER_GONE
