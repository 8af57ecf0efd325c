"""Tests for runners_on_demand.reconcile: parsing the listings and every rule of the plan."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runners_on_demand.decision import Policy, Pool
from runners_on_demand.observed import (
    MANAGED_BY,
    Child,
    QueuedJob,
    Runner,
    child_from_stub,
    queued_job_from_rest,
    runner_from_rest,
)
from runners_on_demand.ports.protocols import VariableMeta
from runners_on_demand.reconcile.plan import (
    InFlight,
    MakeRunner,
    Observation,
    Plan,
    ReconcilePolicy,
    Retire,
    plan,
)
from runners_on_demand.reconcile.settings import ReconcileSettings

NOW = 1_800_000_000.0
REPO = "octo/app"
OTHER = "octo/lib"
LINUX = ("self-hosted", "linux")
GPU = ("self-hosted", "linux", "gpu")
SETTINGS = ReconcileSettings(boot_timeout_seconds=300.0, idle_grace_seconds=60.0, max_retries=3)
POLICY = ReconcilePolicy(settings=SETTINGS)
OLD = 3600.0  # seconds: past every timeout
FRESH = 5.0  # seconds: inside every grace


def rest_job(job_id: int, labels: Iterable[str] = LINUX, **fields: Any) -> dict[str, Any]:
    """A job as `GET /repos/{o}/{r}/actions/runs/{id}/jobs` lists it."""
    return {
        "id": job_id,
        "run_id": 1000 + job_id,
        "run_attempt": 1,
        "name": f"build {job_id}",
        "workflow_name": "CI",
        "labels": list(labels),
        "status": "queued",
        "conclusion": None,
        "runner_id": None,
        "runner_name": None,
        "created_at": "2027-01-15T08:00:00Z",  # = NOW
        **fields,
    }


def repository(full_name: str = REPO) -> dict[str, Any]:
    """The `repository` of a workflow run."""
    return {"full_name": full_name, "html_url": f"https://github.com/{full_name}", "fork": False}


def job(job_id: int, labels: Iterable[str] = LINUX, repo: str = REPO) -> QueuedJob:
    """A queued job, built through the same parser the reconciler uses."""
    parsed = queued_job_from_rest(rest_job(job_id, labels, created_at=None), repository(repo))
    assert parsed is not None
    return parsed


def name(job_id: int, retry: int = 0) -> str:
    """Our runner name for job `job_id`, attempt 1."""
    return f"rod-{job_id}-1" + (f"-r{retry}" if retry else "")


def child(
    job_id: int,
    retry: int = 0,
    *,
    labels: Iterable[str] = LINUX,
    age: float = OLD,
    status: str = "running",
    stop: bool = False,
    failed: bool = False,
    repo: str = REPO,
    parent: str = "github-runner",
    managed: bool = True,
) -> Child:
    """A dispatched child of the runner job, submitted `age` seconds ago."""
    meta = {
        "REPO_FULL_NAME": repo,
        "GITHUB_JOB_ID": str(job_id),
        "RUNNER_NAME": name(job_id, retry),
        "RUNNER_LABELS": ",".join(labels),
    }
    if managed:
        meta["managed_by"] = MANAGED_BY
    suffix = f"{job_id:08x}{retry}"
    return Child(f"{parent}/dispatch-1-{suffix}", parent, status, stop, meta, NOW - age, failed)


def runner(
    job_id: int,
    retry: int = 0,
    *,
    status: str = "online",
    busy: bool = False,
    repo: str = REPO,
    runner_name: str | None = None,
) -> Runner:
    """A registered runner; its id is derived from its name."""
    runner_name = runner_name or name(job_id, retry)
    return Runner(repo, 10_000 + job_id * 10 + retry, runner_name, status, busy, LINUX)


def observe(
    jobs: Iterable[QueuedJob] = (),
    children: Iterable[Child] = (),
    runners: Iterable[Runner] = (),
    *,
    repos: Iterable[str] = (REPO, OTHER),
    first_seen: dict[str, float] | None = None,
    earlier: Iterable[QueuedJob] | None = None,
    in_flight: Iterable[str] = (),
) -> Observation:
    """An observation at NOW; `earlier` is the job listing made before the runners."""
    return Observation(
        now=NOW,
        repos=frozenset(repos),
        jobs=tuple(jobs),
        children=tuple(children),
        runners=tuple(runners),
        first_seen=first_seen or {},
        earlier_jobs=None if earlier is None else tuple(earlier),
        in_flight=tuple(InFlight(REPO, runner_name, LINUX) for runner_name in in_flight),
    )


def summary(result: Plan) -> set[tuple[Any, ...]]:
    """The plan's actions, reduced to what a rule decides."""
    out: set[tuple[Any, ...]] = set()
    for action in result.actions:
        if isinstance(action, MakeRunner):
            out.add(("dispatch", action.start.runner_name))
        else:
            out.add(("retire", action.runner_name, action.runner_id, action.child_id))
    return out


def retire(c: Child | None = None, r: Runner | None = None) -> tuple[Any, ...]:
    """The summary of retiring a unit made of child `c` and runner `r`."""
    assert c or r
    unit_name = c.meta["RUNNER_NAME"] if c else r.name  # type: ignore[union-attr]
    return ("retire", unit_name, r.id if r else None, c.id if c and c.live else None)


def apply(observation: Observation, result: Plan, *, later: float = 0.0) -> Observation:
    """The world after the plan's effects: runners removed, children stopped, new units made."""
    children = list(observation.children)
    runners = list(observation.runners)
    for action in result.actions:
        if isinstance(action, Retire):
            runners = [r for r in runners if r.id != action.runner_id]
            children = [
                dataclasses.replace(c, stop=True, status="dead") if c.id == action.child_id else c
                for c in children
            ]
        else:  # a stored runner (`action.stored`) exists already: only its child is new
            event, dispatch = action.event, action.start
            meta = {
                "managed_by": MANAGED_BY,
                "REPO_FULL_NAME": event.repo_full_name,
                "GITHUB_JOB_ID": str(event.job_id),
                "RUNNER_NAME": dispatch.runner_name,
                "RUNNER_LABELS": ",".join(dispatch.labels),
            }
            child_id = f"{dispatch.pool.nomad_job}/dispatch-2-{dispatch.runner_name}"
            children.append(
                Child(child_id, dispatch.pool.nomad_job, "pending", False, meta, NOW, False)
            )
            if not action.stored:
                runners.append(
                    Runner(
                        event.repo_full_name,
                        hash(dispatch.runner_name) % 10**9,
                        dispatch.runner_name,
                        "offline",
                        False,
                        dispatch.labels,
                    )
                )
    return dataclasses.replace(
        observation, now=NOW + later, children=tuple(children), runners=tuple(runners)
    )


class TestQueuedJobFromRest:
    def test_a_queued_rest_job_becomes_the_event_the_webhook_would_carry(self) -> None:
        parsed = queued_job_from_rest(rest_job(7, GPU), repository())
        assert parsed is not None
        event = parsed.event
        assert (event.action, event.job_id, event.run_id, event.run_attempt) == (
            "queued",
            7,
            1007,
            1,
        )
        assert event.labels == GPU
        assert (event.repo_full_name, event.repo_owner, event.repo_name) == (REPO, "octo", "app")
        assert event.repo_html_url == "https://github.com/octo/app"
        assert event.runner_id is None and event.installation_id is None
        assert parsed.queued_at == NOW

    @pytest.mark.parametrize(
        ("change", "why"),
        [
            ({"status": "in_progress"}, "not queued"),
            ({"labels": "self-hosted"}, "labels not a list"),
            ({"labels": ["self-hosted", 3]}, "a label not a string"),
            ({"id": "x"}, "id not a number"),
            ({"run_id": 0}, "run id not positive"),
        ],
    )
    def test_an_unusable_job_is_skipped(self, change: dict[str, Any], why: str) -> None:
        assert queued_job_from_rest(rest_job(7) | change, repository()) is None, why

    def test_a_repository_name_outside_githubs_grammar_is_skipped(self) -> None:
        assert queued_job_from_rest(rest_job(7), repository("octo/../etc")) is None

    def test_a_missing_created_at_leaves_the_queue_time_unknown(self) -> None:
        parsed = queued_job_from_rest(rest_job(7, created_at=None), repository())
        assert parsed is not None and parsed.queued_at is None


class TestRunnerFromRest:
    def test_reads_the_runner_fields_and_label_names(self) -> None:
        document = {
            "id": 23,
            "name": "rod-7-1",
            "os": "linux",
            "status": "offline",
            "busy": False,
            "labels": [{"id": 1, "name": "self-hosted", "type": "read-only"}, {"name": "gpu"}],
        }
        assert runner_from_rest(REPO, document) == Runner(
            REPO, 23, "rod-7-1", "offline", False, ("self-hosted", "gpu")
        )

    def test_a_runner_without_busy_is_skipped(self) -> None:
        assert runner_from_rest(REPO, {"id": 1, "name": "x", "status": "online"}) is None


class TestChildFromStub:
    def stub(self, **fields: Any) -> dict[str, Any]:
        return {
            "ID": "github-runner/dispatch-1700000000-0a1b2c3d",
            "ParentID": "github-runner",
            "Status": "dead",
            "Stop": False,
            "SubmitTime": 1_700_000_000_123_456_789,
            "Meta": {"managed_by": MANAGED_BY, "RUNNER_NAME": "rod-7-1"},
            "JobSummary": {"Summary": {"runner": {"Complete": 0, "Failed": 1, "Lost": 0}}},
            **fields,
        }

    def test_reads_status_meta_submit_time_and_a_failed_allocation(self) -> None:
        parsed = child_from_stub(self.stub())
        assert parsed is not None
        assert parsed.meta["RUNNER_NAME"] == "rod-7-1"
        assert parsed.submit_time == pytest.approx(1_700_000_000.123456789)
        assert parsed.failed and not parsed.live

    def test_a_lost_allocation_counts_as_failed_and_a_complete_one_does_not(self) -> None:
        lost = {"Summary": {"runner": {"Failed": 0, "Lost": 1}}}
        complete = {"Summary": {"runner": {"Complete": 1, "Failed": 0, "Lost": 0}}}
        assert child_from_stub(self.stub(JobSummary=lost)).failed  # type: ignore[union-attr]
        assert not child_from_stub(self.stub(JobSummary=complete)).failed  # type: ignore[union-attr]

    def test_the_parent_job_itself_is_not_a_child(self) -> None:
        assert child_from_stub(self.stub(ID="github-runner", ParentID="")) is None

    def test_a_stub_without_status_is_skipped(self) -> None:
        stub = self.stub()
        del stub["Status"]
        assert child_from_stub(stub) is None


J, K, X = 101, 102, 103  # job ids

# (rule, observation, expected actions); every case is also checked for idempotence below.
CASES: list[tuple[str, Observation, set[tuple[Any, ...]]]] = [
    (
        "missed webhook: a queued job with no runner gets one",
        observe([job(J)]),
        {("dispatch", name(J))},
    ),
    (
        "a queued job with its own idle runner needs nothing",
        observe([job(J)], [child(J)], [runner(J)]),
        set(),
    ),
    (
        "a JIT runner whose dispatch is in flight counts as capacity",
        observe([job(J)], [], [runner(J, status="offline")], first_seen={name(J): NOW - FRESH}),
        set(),
    ),
    (
        "cancelled before pickup: the idle runner is retired",
        observe([], [child(J)], [runner(J)]),
        {retire(child(J), runner(J))},
    ),
    (
        "cancelled moments after a fresh dispatch: the grace period keeps it",
        observe([], [child(J, age=FRESH)], [runner(J, status="offline")]),
        set(),
    ),
    (
        "stealing within a label set: J's runner runs K, K's runner serves J",
        observe([job(J)], [child(J), child(K)], [runner(J, busy=True), runner(K)]),
        set(),
    ),
    (
        "a job taken between the listings is no shortfall: J's runner took K after the first",
        observe(
            [job(J)],
            [child(J), child(K)],
            [runner(J, busy=True), runner(K)],
            earlier=[job(J), job(K)],
        ),
        set(),
    ),
    (
        "a job taken after the runners were read is no surplus: both runners stay",
        observe([job(J)], [child(J), child(K)], [runner(J), runner(K)], earlier=[job(J), job(K)]),
        set(),
    ),
    (
        "a job whose dispatch is still queued in this process needs nothing more",
        observe([job(J)], in_flight=[name(J)]),
        set(),
    ),
    (
        "a runner queued here for a job already taken serves another job of its labels",
        observe([job(J)], [child(J)], [runner(J, busy=True)], in_flight=[name(K)]),
        set(),
    ),
    (
        "a runner both listed and in flight counts once: K still gets one",
        observe([job(J), job(K)], runners=[runner(J)], in_flight=[name(J)]),
        {("dispatch", name(K))},
    ),
    (
        "two runners in flight for one job are two runners: one more, for K or X",
        observe([job(J), job(K), job(X)], in_flight=[name(J), name(J, 1)]),
        {("dispatch", name(K))},
    ),
    (
        "stealing across label sets: the gpu runner ran a linux job",
        observe(
            [job(K, GPU)],
            [child(J), child(K, labels=GPU)],
            [runner(J), runner(K, busy=True)],
        ),
        {retire(child(J), runner(J)), ("dispatch", name(K, 1))},
    ),
    (
        "boot timeout: a runner that never connected is retired and its job served again",
        observe([job(J)], [child(J, status="pending")], [runner(J, status="offline")]),
        {retire(child(J), runner(J, status="offline")), ("dispatch", name(J, 1))},
    ),
    (
        "failed allocation: its runner is removed and the job gets retry 1",
        observe(
            [job(J)],
            [child(J, status="dead", failed=True)],
            [runner(J, status="offline")],
        ),
        {retire(None, runner(J, status="offline")), ("dispatch", name(J, 1))},
    ),
    (
        "failed allocations: the retry number follows the highest one seen",
        observe([job(J)], [child(J, 0, status="dead", failed=True), child(J, 1, failed=True)]),
        {retire(child(J, 1, failed=True)), ("dispatch", name(J, 2))},
    ),
    (
        "bounded retries: after max_retries failures the job is given up",
        observe([job(J)], [child(J, n, status="dead", failed=True) for n in range(4)]),
        set(),
    ),
    (
        "out of retries: a childless runner is kept as the record of the last try",
        observe(
            [job(J)],
            [child(J, 2, status="dead", failed=True)],
            [runner(J, 3, status="offline")],
            first_seen={name(J, 3): NOW - OLD},
        ),
        set(),
    ),
    (
        "a busy runner is never removed, whatever its child says",
        observe(
            [],
            [child(J, status="dead", failed=True), child(K, status="dead")],
            [runner(J, busy=True), runner(K, busy=True, status="offline")],
        ),
        set(),
    ),
    (
        "foreign runners and jobs are never touched",
        observe(
            [],
            [
                child(J, managed=False),
                child(K, parent="someone-elses-job"),
                dataclasses.replace(child(X), meta={**child(X).meta, "RUNNER_NAME": "ci-103"}),
                dataclasses.replace(child(X), meta={**child(X).meta, "GITHUB_JOB_ID": "9"}),
            ],
            [
                runner(J, runner_name="build-box-1", status="offline"),
                runner(J, runner_name="rod-7", status="offline"),
                runner(J, runner_name="rod-101-1-extra", status="offline"),
            ],
        ),
        set(),
    ),
    (
        "a repository that was not fully listed is left alone",
        observe([], [child(J, repo="octo/unlisted")], [runner(J, repo="octo/unlisted")]),
        set(),
    ),
    (
        "a runner whose child ended is removed; a dead child alone needs nothing",
        observe(
            [], [child(J, status="dead"), child(K, status="dead")], [runner(J, status="offline")]
        ),
        {retire(child(J, status="dead"), runner(J, status="offline"))},
    ),
    (
        "JIT: a live child whose runner is gone did its job and is stopped",
        observe([], [child(J)], []),
        {retire(child(J))},
    ),
    (
        "JIT: a just-dispatched child without a runner in the list is left for now",
        observe([], [child(J, age=FRESH)], []),
        set(),
    ),
    (
        "an old runner without a Nomad job is an orphan and goes",
        observe([], [], [runner(J, status="offline")], first_seen={name(J): NOW - OLD}),
        {retire(None, runner(J, status="offline"))},
    ),
    (
        "a runner no dispatch here holds gets the idle grace, not the boot timeout, to get a job",
        observe(
            [job(J)],
            [],
            [runner(J, status="offline")],
            first_seen={name(J): NOW - SETTINGS.idle_grace_seconds},
        ),
        {retire(None, runner(J, status="offline")), ("dispatch", name(J, 1))},
    ),
    (
        "a childless runner whose dispatch this process still tries is kept, however old",
        observe(
            [job(J)],
            [],
            [runner(J, status="offline")],
            first_seen={name(J): NOW - OLD},
            in_flight=[name(J)],
        ),
        set(),
    ),
    (
        "an orphan of a still-queued job goes and the job gets a new runner",
        observe([job(J)], [], [runner(J, status="offline")], first_seen={name(J): NOW - OLD}),
        {retire(None, runner(J, status="offline")), ("dispatch", name(J, 1))},
    ),
    (
        "surplus: the runner whose own job is gone goes first",
        observe([job(J)], [child(J, age=100), child(X)], [runner(J, status="offline"), runner(X)]),
        {retire(child(X), runner(X))},
    ),
    (
        "surplus: between two spare runners the one still offline goes",
        observe(
            [job(J)],
            [child(K, status="pending", age=100), child(X)],
            [runner(K, status="offline"), runner(X)],
        ),
        {retire(child(K, status="pending", age=100), runner(K, status="offline"))},
    ),
    (
        "demand is counted per repository",
        observe([job(J, repo=OTHER)], [child(K)], [runner(K)]),
        {retire(child(K), runner(K)), ("dispatch", name(J))},
    ),
    (
        "jobs the webhook path ignores get nothing: no trigger label, GitHub-hosted",
        observe([job(J, ("linux",)), job(K, ("ubuntu-latest",))]),
        set(),
    ),
]


class TestPlan:
    @pytest.mark.parametrize(("rule", "observation", "expected"), CASES, ids=[c[0] for c in CASES])
    def test_rule(self, rule: str, observation: Observation, expected: set[Any]) -> None:
        assert summary(plan(observation, POLICY)) == expected, rule

    @pytest.mark.parametrize(("rule", "observation", "expected"), CASES, ids=[c[0] for c in CASES])
    def test_applying_the_plan_and_planning_again_yields_nothing(
        self, rule: str, observation: Observation, expected: set[Any]
    ) -> None:
        after = apply(observation, plan(observation, POLICY))
        assert plan(after, POLICY).actions == (), rule

    @pytest.mark.parametrize(("rule", "observation", "expected"), CASES, ids=[c[0] for c in CASES])
    def test_replicas_seeing_the_same_world_in_any_order_plan_the_same(
        self, rule: str, observation: Observation, expected: set[Any]
    ) -> None:
        shuffled = random.Random(rule)
        mixed = dataclasses.replace(
            observation,
            jobs=tuple(shuffled.sample(observation.jobs, len(observation.jobs))),
            children=tuple(shuffled.sample(observation.children, len(observation.children))),
            runners=tuple(shuffled.sample(observation.runners, len(observation.runners))),
        )
        assert plan(mixed, POLICY).actions == plan(observation, POLICY).actions

    def test_a_missed_webhook_gets_the_webhook_paths_own_name(self) -> None:
        (action,) = plan(observe([job(J, GPU)]), POLICY).actions
        assert isinstance(action, MakeRunner)
        assert action.start.runner_name == "rod-101-1"
        assert action.start.labels == GPU
        assert action.event.job_id == J and action.event.action == "queued"

    def test_a_retry_gets_a_name_of_its_own(self) -> None:
        world = observe([job(J)], [child(J, status="dead", failed=True)])
        (action,) = plan(world, POLICY).actions
        assert isinstance(action, MakeRunner)
        assert action.start.runner_name == "rod-101-1-r1"
        assert action.reason == "retry 1"

    def test_a_job_out_of_retries_is_reported(self) -> None:
        world = observe([job(J)], [child(J, n, status="dead", failed=True) for n in range(4)])
        assert plan(world, POLICY).gave_up == ("octo/app#101",)

    def test_a_second_replica_after_the_first_acted_does_nothing(self) -> None:
        world = observe(
            [job(K, GPU)], [child(J), child(K, labels=GPU)], [runner(J), runner(K, busy=True)]
        )
        first = plan(world, POLICY)
        assert plan(apply(world, first, later=1.0), POLICY).actions == ()

    def test_a_dispatch_goes_to_the_pool_decide_picks(self) -> None:
        gpu = Pool("gpu", "github-runner-gpu", frozenset({"linux", "gpu"}))
        policy = dataclasses.replace(
            POLICY, decision=Policy(pools=(gpu, Pool("any", "github-runner")))
        )
        actions = plan(observe([job(J, GPU), job(K, ("self-hosted", "windows"))]), policy).actions
        pools = {a.start.runner_name: a.start.pool.nomad_job for a in actions}  # type: ignore[union-attr]
        assert pools == {name(J): "github-runner-gpu", name(K): "github-runner"}

    def test_children_of_a_job_that_is_no_pool_are_foreign(self) -> None:
        world = observe([], [child(J, parent="github-runner-old")], [])
        assert plan(world, POLICY).actions == ()

    def test_an_allowlist_applies_as_on_the_webhook_path(self) -> None:
        policy = dataclasses.replace(POLICY, decision=Policy(allow=("octo/lib",)))
        actions = plan(observe([job(J), job(K, repo=OTHER)]), policy).actions
        assert [a.start.runner_name for a in actions] == [name(K)]  # type: ignore[union-attr]

    def test_the_webhook_path_gets_dispatch_delay_but_a_retry_does_not(self) -> None:
        policy = dataclasses.replace(
            POLICY, settings=dataclasses.replace(SETTINGS, dispatch_delay_seconds=30.0)
        )
        young = dataclasses.replace(job(J), queued_at=NOW - 10)
        old = dataclasses.replace(job(K), queued_at=NOW - 40)
        failed = child(J, status="dead", failed=True)
        assert summary(plan(observe([young, old]), policy)) == {("dispatch", name(K))}
        assert ("dispatch", name(J, 1)) in summary(plan(observe([young], [failed]), policy))

    def test_registration_mode_waits_boot_timeout_for_a_runner_to_register(self) -> None:
        policy = dataclasses.replace(POLICY, runner_precreated=False)
        booting = observe([job(J)], [child(J, age=100)], [])
        assert plan(booting, policy).actions == ()
        stuck = observe([job(J)], [child(J, age=OLD)], [])
        assert summary(plan(stuck, policy)) == {retire(child(J)), ("dispatch", name(J, 1))}

    def test_registration_mode_waits_boot_timeout_for_a_childless_runner(self) -> None:
        # The runner registered itself from inside its child, which is gone from the list.
        policy = dataclasses.replace(POLICY, runner_precreated=False)
        seen = {name(J): NOW - 100}
        assert plan(observe([job(J)], [], [runner(J)], first_seen=seen), policy).actions == ()
        seen = {name(J): NOW - OLD}
        stuck = observe([job(J)], [], [runner(J)], first_seen=seen)
        assert summary(plan(stuck, policy)) == {retire(None, runner(J)), ("dispatch", name(J, 1))}

    def test_without_a_memory_of_first_sight_a_childless_runner_is_kept(self) -> None:
        # `rod reconcile --once` cannot know how long such a runner has existed.
        world = observe([job(J)], [], [runner(J, status="offline")])
        assert plan(world, POLICY).actions == ()

    def test_a_childless_runner_is_dated_by_its_credential_and_kept_while_it_resumes(
        self,
    ) -> None:
        # No memory of first sight (`--once`): the Variable's ModifyTime dates the runner. While
        # its job is queued, stored.to_resume dispatches it again: not retired, no new runner.
        stored = VariableMeta(f"nomad/jobs/github-runner/credentials/{name(J)}", 3, NOW - OLD)
        queued = dataclasses.replace(observe([job(J)], [], [runner(J)]), credentials=(stored,))
        resumed = plan(queued, POLICY)
        assert summary(resumed) == {("dispatch", name(J))}
        assert [a.stored for a in resumed.actions] == [True] and resumed.destroy == ()
        assert plan(apply(queued, resumed), POLICY).actions == ()
        ended = dataclasses.replace(observe([], [], [runner(J)]), credentials=(stored,))
        assert summary(plan(ended, POLICY)) == {retire(None, runner(J))}

    def test_the_report_counts_demand_idle_and_busy(self) -> None:
        world = observe(
            [job(J), job(K), job(X, GPU)],
            [child(J), child(101 + 50)],
            [runner(J), runner(151, busy=True)],
        )
        result = plan(world, POLICY)
        assert result.busy == 1
        assert [(d.labels, d.queued, d.idle) for d in result.demand] == [
            (("gpu", "linux", "self-hosted"), 1, 0),
            (("linux", "self-hosted"), 2, 1),
        ]

    def test_a_burst_converges_in_one_step_and_stays_put(self) -> None:
        jobs = [job(n, GPU if n % 3 == 0 else LINUX) for n in range(1, 301)]
        world = observe(jobs)
        first = plan(world, POLICY)
        assert len(first.actions) == 300
        assert len({a.start.runner_name for a in first.actions}) == 300  # type: ignore[union-attr]
        assert plan(apply(world, first, later=OLD / 60), POLICY).actions == ()


@st.composite
def worlds(draw: st.DrawFn) -> Observation:
    """Random worlds: queued jobs, our units in every state, and foreign runners and jobs."""
    label_sets = [LINUX, GPU]
    repos = [REPO, OTHER]
    jobs = []
    for job_id in draw(st.sets(st.integers(1, 8), max_size=6)):
        jobs.append(job(job_id, draw(st.sampled_from(label_sets)), draw(st.sampled_from(repos))))
    children, runners = [], []
    units = draw(st.sets(st.tuples(st.integers(1, 8), st.integers(0, 3)), max_size=10))
    for job_id, retry in sorted(units):
        repo = draw(st.sampled_from(repos))
        labels = draw(st.sampled_from(label_sets))
        age = draw(st.sampled_from([FRESH, 100.0, OLD]))
        if draw(st.booleans()):
            status = draw(st.sampled_from(["pending", "running", "dead"]))
            children.append(
                child(
                    job_id,
                    retry,
                    labels=labels,
                    age=age,
                    status=status,
                    repo=repo,
                    stop=draw(st.booleans()),
                    failed=draw(st.booleans()),
                )
            )
        if draw(st.booleans()):
            status = draw(st.sampled_from(["online", "offline"]))
            runners.append(
                runner(job_id, retry, status=status, busy=draw(st.booleans()), repo=repo)
            )
    foreign_runners = [runner(9, runner_name="build-box", status="offline")]
    foreign_children = [child(9, managed=False), child(10, parent="other-job")]
    seen = {r.name: NOW - draw(st.sampled_from([FRESH, OLD])) for r in runners}
    return observe(
        jobs, [*children, *foreign_children], [*runners, *foreign_runners], first_seen=seen
    )


class TestPlanProperties:
    @settings(max_examples=300, deadline=None)
    @given(worlds())
    def test_safety_rules_hold_in_any_world(self, world: Observation) -> None:
        result = plan(world, POLICY)
        busy = {r.id for r in world.runners if r.busy}
        ours = {r.id for r in world.runners if r.name.startswith("rod-")}
        live = {c.id for c in world.children if c.live and c.meta.get("managed_by") == MANAGED_BY}
        tokens = []
        for action in result.actions:
            if isinstance(action, Retire):
                assert action.runner_id is None or action.runner_id in ours - busy
                assert action.child_id is None or action.child_id in live
                busy_names = {r.name for r in world.runners if r.busy}
                assert action.runner_name not in busy_names
            else:
                tokens.append(action.start.runner_name)
                assert not action.start.runner_name.endswith(f"-r{SETTINGS.max_retries + 1}")
        assert len(tokens) == len(set(tokens))

    @settings(max_examples=300, deadline=None)
    @given(worlds())
    def test_applying_a_plan_and_planning_again_yields_nothing(self, world: Observation) -> None:
        assert plan(apply(world, plan(world, POLICY)), POLICY).actions == ()

    @settings(max_examples=100, deadline=None)
    @given(worlds(), st.randoms(use_true_random=False))
    def test_the_plan_does_not_depend_on_listing_order(
        self, world: Observation, rng: random.Random
    ) -> None:
        mixed = dataclasses.replace(
            world,
            jobs=tuple(rng.sample(world.jobs, len(world.jobs))),
            children=tuple(rng.sample(world.children, len(world.children))),
            runners=tuple(rng.sample(world.runners, len(world.runners))),
        )
        assert plan(mixed, POLICY) == plan(world, POLICY)
