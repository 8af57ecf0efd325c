"""The reconciler's tick at an organization, on the in-memory ports: what it reads, in what order,
and what an unread repository or a changed runner group does."""

from __future__ import annotations

from runners_on_demand.decision import Policy, Pool
from runners_on_demand.errors import GitHubError
from runners_on_demand.observed import QueuedJob, queued_job_from_rest
from runners_on_demand.reconcile.plan import ReconcilePolicy
from runners_on_demand.reconcile.settings import ReconcileSettings
from runners_on_demand.scope import RunnerGroup
from tests.runners_on_demand.fakes import FakeGitHub, FakeNomad
from tests.runners_on_demand.reconcile.test_loop import NOW, Clock, child, reconciler, runner

ORG = "acme"
APP, LIB = "acme/app", "acme/lib"
GROUP = RunnerGroup(ORG, 2, "linux")
POOL = Pool("org", "github-runner", runner_group="linux", group=GROUP)
POLICY = ReconcilePolicy(Policy(pools=(POOL,)), ReconcileSettings(idle_grace_seconds=60.0))


def queued(job_id: int, repo: str = APP) -> QueuedJob:
    rest = {"id": job_id, "run_id": 9, "run_attempt": 1, "name": "b", "status": "queued"}
    repository = {"full_name": repo, "html_url": f"https://x.test/{repo}", "private": True}
    found = queued_job_from_rest(rest | {"labels": ["self-hosted"]}, repository)
    assert found is not None
    return found


def org_github() -> FakeGitHub:
    github = FakeGitHub()
    github.groups[ORG] = [GROUP]
    return github


class TestTickAtAnOrganization:
    async def test_jobs_then_the_orgs_runners_then_jobs_again(self) -> None:
        github, nomad = org_github(), FakeNomad()
        made, _ = reconciler(github, nomad, Clock(NOW), policy=POLICY, repos=(APP, LIB))
        await made.tick()
        assert github.calls == [
            ("list_runner_groups", ORG),
            ("list_queued_jobs", APP),
            ("list_queued_jobs", LIB),
            ("list_runners", ORG),  # no repository runners: every pool has a runner group
            ("list_queued_jobs", APP),
            ("list_queued_jobs", LIB),
        ]

    async def test_a_missed_job_gets_an_org_runner(self) -> None:
        github, nomad = org_github(), FakeNomad()
        github.jobs[LIB] = [queued(7, LIB)]
        made, dispatcher = reconciler(github, nomad, Clock(NOW), policy=POLICY, repos=(APP, LIB))
        report = await made.tick()
        await dispatcher.stop()
        assert [str(o) for o in report.outcomes] == ["queued"]
        assert ("generate_jitconfig", "rod-7-1") in github.calls
        assert ("list_runners", "acme/lib") not in github.calls

    async def test_an_idle_org_runner_is_retired_at_the_organization(self) -> None:
        github, nomad = org_github(), FakeNomad()
        nomad.children = [child(7, repo=APP)]
        github.runners[ORG] = [runner(7, repo=ORG)]
        made, _ = reconciler(github, nomad, Clock(NOW), policy=POLICY, repos=(APP,))
        (outcome,) = (await made.tick()).outcomes
        assert str(outcome) == "retired: runner removed, child stopped"
        assert github.runners[ORG] == []

    async def test_an_unread_repository_leaves_its_organization_alone(self) -> None:
        github, nomad = org_github(), FakeNomad()
        github.failures[LIB] = GitHubError("GitHub GET ...: 502 Bad Gateway", status=502)
        nomad.children = [child(7, repo=APP)]  # idle, its job gone: would be retired
        github.runners[ORG] = [runner(7, repo=ORG)]
        made, _ = reconciler(github, nomad, Clock(NOW), policy=POLICY, repos=(APP, LIB))
        report = await made.tick()
        assert report.observation is not None and report.observation.repos == {APP}
        assert report.outcomes == ()

    async def test_a_group_change_reaches_the_webhook_path_too(self) -> None:
        github, nomad = org_github(), FakeNomad()
        made, dispatcher = reconciler(github, nomad, Clock(NOW), policy=POLICY)
        wider = RunnerGroup(ORG, 2, "linux", allows_public_repositories=True)
        github.groups[ORG] = [wider]
        await made.tick()
        assert made.policy.decision.pools[0].group == wider
        assert dispatcher.policy.pools[0].group == wider
