"""The plan at an organization: org runners keyed by their org, demand pooled across repositories.

An org runner (a pool with a runner group) may take a job of any repository its group allows,
so its scope is the organization: the queued jobs of every served repository of the org count
against its idle units, and its retries are counted per job at that scope.
"""

from __future__ import annotations

from collections.abc import Iterable

from runners_on_demand.decision import Policy, Pool
from runners_on_demand.observed import MANAGED_BY, Child, QueuedJob, Runner, queued_job_from_rest
from runners_on_demand.reconcile.plan import (
    MakeRunner,
    Observation,
    ReconcilePolicy,
    Retire,
    RetireReason,
    plan,
)
from runners_on_demand.reconcile.settings import ReconcileSettings
from runners_on_demand.scope import RunnerGroup

NOW = 1_800_000_000.0
OLD = 3600.0
ORG = "acme"
APP, LIB, SECRET = "acme/app", "acme/lib", "acme/secret"
LINUX = ("self-hosted", "linux")
GROUP = RunnerGroup(ORG, 2, "linux", "selected", selected=frozenset({APP, LIB}))
POOL = Pool("org", "github-runner", runner_group="linux", group=GROUP)
POLICY = ReconcilePolicy(
    Policy(pools=(POOL,)), ReconcileSettings(idle_grace_seconds=60.0, max_retries=3)
)
SCOPES = frozenset({APP, LIB, SECRET, ORG})


def job(job_id: int, repo: str = APP) -> QueuedJob:
    rest = {"id": job_id, "run_id": 1000 + job_id, "run_attempt": 1, "name": "build"}
    rest |= {"labels": list(LINUX), "status": "queued"}
    repository = {"full_name": repo, "html_url": f"https://github.com/{repo}", "private": True}
    parsed = queued_job_from_rest(rest, repository)
    assert parsed is not None
    return parsed


def child(job_id: int, repo: str = APP, *, retry: int = 0, failed: bool = False) -> Child:
    name = f"rod-{job_id}-1" + (f"-r{retry}" if retry else "")
    meta = {"managed_by": MANAGED_BY, "REPO_FULL_NAME": repo, "GITHUB_JOB_ID": str(job_id)}
    meta |= {"RUNNER_NAME": name, "RUNNER_LABELS": ",".join(LINUX)}
    return Child(
        f"github-runner/dispatch-{name}", "github-runner", "running", False, meta, NOW - OLD, failed
    )


def runner(job_id: int, *, busy: bool = False, where: str = ORG) -> Runner:
    return Runner(where, 10_000 + job_id, f"rod-{job_id}-1", "online", busy, LINUX)


def observe(
    jobs: Iterable[QueuedJob] = (),
    children: Iterable[Child] = (),
    runners: Iterable[Runner] = (),
    repos: frozenset[str] = SCOPES,
) -> Observation:
    return Observation(NOW, repos, tuple(jobs), tuple(children), tuple(runners))


class TestPlanAtAnOrganization:
    def test_a_queued_job_gets_an_org_runner(self) -> None:
        (action,) = plan(observe([job(7)]), POLICY).actions
        assert isinstance(action, MakeRunner) and action.start.pool == POOL
        assert action.start.runner_name == "rod-7-1"

    def test_an_idle_org_runner_serves_a_job_of_another_repository(self) -> None:
        # rod-7-1 was made for a job of acme/app that another runner took; it will run acme/lib's.
        found = plan(observe([job(8, LIB)], [child(7)], [runner(7)]), POLICY)
        assert found.actions == ()
        assert [(d.repo, d.queued, d.idle) for d in found.demand] == [(ORG, 1, 1)]

    def test_an_idle_org_runner_without_demand_is_retired_at_the_organization(self) -> None:
        (action,) = plan(observe([], [child(7)], [runner(7)]), POLICY).actions
        assert action == Retire(ORG, "rod-7-1", 10_007, child(7).id, RetireReason.SURPLUS)

    def test_a_failed_org_runner_is_retried_under_the_next_name(self) -> None:
        actions = plan(observe([job(7)], [child(7, failed=True)], [runner(7)]), POLICY).actions
        made = [a.start.runner_name for a in actions if isinstance(a, MakeRunner)]
        retired = [a.reason for a in actions if isinstance(a, Retire)]
        assert (made, retired) == (["rod-7-1-r1"], [RetireReason.ALLOCATION_FAILED])

    def test_a_repository_the_group_does_not_serve_makes_no_demand(self) -> None:
        assert plan(observe([job(9, SECRET)]), POLICY).actions == ()

    def test_nothing_is_done_while_the_organization_is_unread(self) -> None:
        partial = frozenset({APP, LIB})  # the org's runners (or one of its repositories) unread
        assert plan(observe([job(7)], [child(8)], [runner(8)], partial), POLICY).actions == ()

    def test_a_repository_runner_of_the_same_name_is_another_unit(self) -> None:
        # Left from when the pool made repository runners: not the org's capacity.
        found = plan(observe([job(7)], [], [runner(7, where=APP)]), POLICY)
        assert [a.start.runner_name for a in found.actions if isinstance(a, MakeRunner)] == [
            "rod-7-1"
        ]

    def test_once_the_runner_exists_there_is_nothing_left_to_do(self) -> None:
        (action,) = plan(observe([job(7)]), POLICY).actions
        assert isinstance(action, MakeRunner)
        made = child(7)
        assert plan(observe([job(7)], [made], [runner(7)]), POLICY).actions == ()
