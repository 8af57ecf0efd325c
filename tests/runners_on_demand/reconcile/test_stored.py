"""Tests for runners_on_demand.reconcile.stored: which credential Variables may be destroyed."""

from __future__ import annotations

from dataclasses import replace

import pytest

from runners_on_demand.decision import Policy, Pool
from runners_on_demand.observed import MANAGED_BY, Child, QueuedJob, Runner, queued_job_from_rest
from runners_on_demand.ports import VariableMeta
from runners_on_demand.reconcile.model import InFlight, Observation, ReconcilePolicy
from runners_on_demand.reconcile.settings import ReconcileSettings
from runners_on_demand.reconcile.stored import QUEUE_LIMIT_SECONDS, stale_credentials, to_resume
from runners_on_demand.scope import RunnerGroup
from runners_on_demand.tables import DAY

NOW = 1_800_000_000.0
REPO = "octo/app"
GRACE = 60.0
JIT = ReconcilePolicy(settings=ReconcileSettings(idle_grace_seconds=GRACE))
REGISTRATION = replace(JIT, runner_precreated=False)


def variable(name: str, *, age: float = 3600.0) -> VariableMeta:
    return VariableMeta(f"nomad/jobs/github-runner/credentials/{name}", 3, NOW - age)


def child(name: str, *, status: str = "running", parent: str = "github-runner") -> Child:
    meta = {"managed_by": MANAGED_BY, "REPO_FULL_NAME": REPO, "RUNNER_NAME": name}
    return Child(f"{parent}/dispatch-{name}", parent, status, False, meta, NOW - 10, False)


def runner(name: str, *, status: str = "offline", busy: bool = False) -> Runner:
    return Runner(REPO, 1, name, status, busy)


def queued(job_id: int) -> QueuedJob:
    rest = {"id": job_id, "run_id": 9, "run_attempt": 1, "name": "build", "status": "queued",
            "labels": ["self-hosted"]}  # fmt: skip
    found = queued_job_from_rest(rest, {"full_name": REPO, "html_url": f"https://x.test/{REPO}"})
    assert found is not None
    return found


def observed(**parts: object) -> Observation:
    fields: dict[str, object] = {"now": NOW, "repos": frozenset({REPO}), "jobs": (),
                                 "children": (), "runners": (), **parts}  # fmt: skip
    return Observation(**fields)  # type: ignore[arg-type]


def swept(
    variables: list[VariableMeta],
    *,
    children: tuple[Child, ...] = (),
    runners: tuple[Runner, ...] = (),
    in_flight: tuple[InFlight, ...] = (),
    repos: frozenset[str] = frozenset({REPO}),
    unread: frozenset[str] = frozenset(),
    policy: ReconcilePolicy = JIT,
) -> dict[str, str]:
    observation = Observation(
        now=NOW,
        repos=repos,
        unread=unread,
        jobs=(),
        children=children,
        runners=runners,
        in_flight=in_flight,
    )
    found = stale_credentials(variables, observation, policy)
    return {meta.path.rpartition("/")[2]: why for meta, why in found}


class TestStaleCredentials:
    @pytest.mark.parametrize(
        ("runner_status", "busy", "why"),
        [("online", False, "its runner is online"), ("offline", True, "its runner is online")],
    )
    def test_used_when_github_lists_the_runner_online_or_busy(
        self, runner_status: str, busy: bool, why: str
    ) -> None:
        found = swept(
            [variable("rod-7-1")],
            children=(child("rod-7-1"),),
            runners=(runner("rod-7-1", status=runner_status, busy=busy),),
        )
        assert found == {"rod-7-1": why}

    def test_kept_while_its_jit_runner_waits_offline_for_its_child(self) -> None:
        found = swept(
            [variable("rod-7-1")], children=(child("rod-7-1"),), runners=(runner("rod-7-1"),)
        )
        assert found == {}

    def test_a_registered_runner_used_its_registration_token(self) -> None:
        found = swept(
            [variable("rod-7-1")],
            children=(child("rod-7-1"),),
            runners=(runner("rod-7-1"),),
            policy=REGISTRATION,
        )
        assert found == {"rod-7-1": "its runner registered"}

    def test_kept_until_config_sh_registers(self) -> None:
        found = swept([variable("rod-7-1")], children=(child("rod-7-1"),), policy=REGISTRATION)
        assert found == {}

    def test_a_dead_child_reads_nothing_any_more(self) -> None:
        found = swept([variable("rod-7-1")], children=(child("rod-7-1", status="dead"),))
        assert found == {"rod-7-1": "its Nomad job ended"}

    def test_a_jit_runner_gone_from_a_repository_read_in_full(self) -> None:
        found = swept([variable("rod-7-1")], children=(child("rod-7-1"),))
        assert found == {"rod-7-1": "its runner is gone"}
        # ...but not when that repository could not be read this time.
        unread = swept([variable("rod-7-1")], children=(child("rod-7-1"),), repos=frozenset())
        assert unread == {}

    def test_an_org_runner_is_gone_only_when_its_organization_was_read(self) -> None:
        group = RunnerGroup("octo", 5, "linux")
        pool = Pool("org", "github-runner", runner_group="linux", group=group)
        org = replace(JIT, decision=Policy(pools=(pool,)))
        stored, children = [variable("rod-7-1")], (child("rod-7-1"),)
        # The repository was read, the organization's runners were not: nothing is known.
        assert swept(stored, children=children, policy=org) == {}
        read = frozenset({REPO, "octo"})
        found = swept(stored, children=children, policy=org, repos=read)
        assert found == {"rod-7-1": "its runner is gone"}

    def test_no_child_within_the_idle_grace(self) -> None:
        found = swept([variable("rod-7-1"), variable("rod-8-1", age=GRACE - 1)])
        assert found == {"rod-7-1": "no Nomad job came"}

    @pytest.mark.parametrize("policy", [JIT, REGISTRATION], ids=["jit", "registration"])
    def test_no_child_but_a_scope_went_unread_its_job_may_still_be_queued(
        self, policy: ReconcilePolicy
    ) -> None:
        # A childless Variable does not say its repository: one that could not be read this tick
        # may still queue its job, and the next tick would dispatch it again.
        unread = frozenset({"octo/other"})
        assert swept([variable("rod-7-1")], repos=frozenset(), unread=unread, policy=policy) == {}

    @pytest.mark.parametrize("policy", [JIT, REGISTRATION], ids=["jit", "registration"])
    def test_no_child_in_48_hours_whatever_went_unread(self, policy: ReconcilePolicy) -> None:
        # GitHub cancels a job queued that long: a scope that keeps failing must not keep its
        # childless Variables for ever.
        stored = [variable("rod-7-1", age=QUEUE_LIMIT_SECONDS), variable("rod-8-1", age=DAY)]
        unread = frozenset({"octo/other"})
        found = swept(stored, repos=frozenset(), unread=unread, policy=policy)
        assert found == {"rod-7-1": "no Nomad job came in 48 h"}

    def test_no_child_in_48_hours_for_a_jit_runner_listed_in_a_scope_gone_unread(self) -> None:
        stored = [variable("rod-7-1", age=QUEUE_LIMIT_SECONDS), variable("rod-8-1", age=DAY)]
        listed = tuple(replace(runner(name), repo="octo/other") for name in ("rod-7-1", "rod-8-1"))
        unread = frozenset({"octo/other"})
        found = swept(stored, runners=listed, unread=unread)
        assert found == {"rod-7-1": "no Nomad job came in 48 h"}

    def test_no_child_and_its_runner_listed_in_a_scope_read_in_full(self) -> None:
        listed = (runner("rod-7-1"),)
        found = swept([variable("rod-7-1")], runners=listed, unread=frozenset({"octo/other"}))
        assert found == {"rod-7-1": "no Nomad job came"}
        # An org runner listed, but a repository of its organization went unread.
        org_runner = (replace(runner("rod-7-1"), repo="octo"),)
        unread = frozenset({REPO})
        assert (
            swept([variable("rod-7-1")], runners=org_runner, repos=frozenset(), unread=unread) == {}
        )

    def test_never_one_this_process_is_dispatching(self) -> None:
        pending = (InFlight(REPO, "rod-7-1", ("self-hosted",)),)
        found = swept(
            [variable("rod-7-1")],
            children=(child("rod-7-1", status="dead"),),
            in_flight=pending,
        )
        assert found == {}

    def test_never_a_variable_we_did_not_name(self) -> None:
        assert swept([variable("deploy-key"), variable("rod-x-1")]) == {}

    def test_only_children_of_our_runner_jobs_count(self) -> None:
        foreign = child("rod-7-1", status="dead", parent="someone-else")
        found = swept([variable("rod-7-1", age=10)], children=(foreign,))
        assert found == {}


class TestToResume:
    def test_a_stored_runner_without_a_child_for_a_queued_job_is_dispatched_again(self) -> None:
        # A process killed between storing the credential and dispatching its child.
        seen = observed(jobs=(queued(7),), runners=(runner("rod-7-1"),))
        (action,) = to_resume([variable("rod-7-1")], seen, JIT)
        assert (action.start.runner_name, action.retry, action.stored) == ("rod-7-1", 0, True)
        assert action.reason == "stored credential, no Nomad job"
        assert action.event.origin.key == "rod-7-1"

    def test_a_retry_keeps_its_own_name(self) -> None:
        seen = observed(jobs=(queued(7),), runners=(runner("rod-7-1-r2"),))
        (action,) = to_resume([variable("rod-7-1-r2")], seen, JIT)
        assert (action.start.runner_name, action.retry) == ("rod-7-1-r2", 2)

    @pytest.mark.parametrize(
        "why",
        ["child", "in flight", "retired", "job gone", "runner gone", "runner busy"],
    )
    def test_not_when(self, why: str) -> None:
        parts: dict[str, object] = {"jobs": (queued(7),), "runners": (runner("rod-7-1"),)}
        retired: tuple[str, ...] = ()
        if why == "child":
            parts["children"] = (child("rod-7-1"),)
        elif why == "in flight":
            parts["in_flight"] = (InFlight(REPO, "rod-7-1", ("self-hosted",)),)
        elif why == "retired":
            retired = ("rod-7-1",)
        elif why == "job gone":
            parts["jobs"] = ()
        elif why == "runner gone":
            parts["runners"] = ()
        else:
            parts["runners"] = (runner("rod-7-1", busy=True),)
        assert to_resume([variable("rod-7-1")], observed(**parts), JIT, retired) == []

    def test_registration_mode_needs_no_runner_yet(self) -> None:
        seen = observed(jobs=(queued(7),))
        assert [
            a.start.runner_name for a in to_resume([variable("rod-7-1")], seen, REGISTRATION)
        ] == ["rod-7-1"]
