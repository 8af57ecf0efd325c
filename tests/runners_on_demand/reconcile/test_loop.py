"""Tests for runners_on_demand.reconciler: one tick's reads, ordering and failure handling.

The ports are in-memory implementations of their protocols (tests/runners_on_demand/fakes.py);
`test_loop_emulators.py` runs the same loop over real HTTP against the GitHub and Nomad emulators.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

import pytest

from runners_on_demand.decision import Policy, StartRunner, decide
from runners_on_demand.errors import GitHubError, GitHubRateLimited, NomadError
from runners_on_demand.events import Intake, Origin
from runners_on_demand.metrics import Metrics
from runners_on_demand.observed import MANAGED_BY, Child, QueuedJob, Runner, queued_job_from_rest
from runners_on_demand.pipeline import Admission, Admitted, Pipeline
from runners_on_demand.ports import VariableMeta
from runners_on_demand.reconcile.heard import decode, encode
from runners_on_demand.reconcile.heard_variable import HeardVariable
from runners_on_demand.reconcile.loop import Reconciler, ServedRepos
from runners_on_demand.reconcile.plan import ReconcilePolicy, Retire, RetireReason
from runners_on_demand.reconcile.settings import ReconcileSettings
from tests.runners_on_demand.fakes import Clock, FakeGitHub, FakeNomad, pipeline

NOW = 1_800_000_000.0
REPO = "octo/app"
STATE = "rod/served-repos"
SETTINGS = ReconcileSettings(boot_timeout_seconds=300.0, idle_grace_seconds=60.0, max_retries=3)
POLICY = ReconcilePolicy(settings=SETTINGS)


def queued(job_id: int, repo: str = REPO) -> QueuedJob:
    rest = {
        "id": job_id,
        "run_id": 9,
        "run_attempt": 1,
        "name": "build",
        "status": "queued",
        "labels": ["self-hosted"],
    }
    found = queued_job_from_rest(rest, {"full_name": repo, "html_url": f"https://x.test/{repo}"})
    assert found is not None
    return found


def child(job_id: int, *, age: float = 3600.0, repo: str = REPO) -> Child:
    meta = {
        "managed_by": MANAGED_BY,
        "REPO_FULL_NAME": repo,
        "GITHUB_JOB_ID": str(job_id),
        "RUNNER_NAME": f"rod-{job_id}-1",
        "RUNNER_LABELS": "self-hosted",
    }
    return Child(
        f"github-runner/dispatch-{job_id}",
        "github-runner",
        "running",
        False,
        meta,
        NOW - age,
        False,
    )


def runner(job_id: int, *, busy: bool = False, repo: str = REPO) -> Runner:
    return Runner(repo, job_id * 10, f"rod-{job_id}-1", "online", busy, ("self-hosted",))


async def no_wait(seconds: float) -> None:
    await asyncio.sleep(0)


@pytest.fixture
def github() -> FakeGitHub:
    return FakeGitHub()


@pytest.fixture
def nomad() -> FakeNomad:
    return FakeNomad()


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


def reconciler(
    github: FakeGitHub,
    nomad: FakeNomad,
    clock: Clock,
    *,
    policy: ReconcilePolicy = POLICY,
    repos: tuple[str, ...] = (REPO,),
    metrics: Metrics | None = None,
    queue_size: int = 1000,
    remembered: str = "",  # the state Variable's path: "" for none
) -> tuple[Reconciler, Pipeline]:
    made_pipeline = pipeline(github, nomad, metrics=metrics, queue_size=queue_size)
    made_pipeline.start()
    served = ServedRepos(repos, clock=clock)
    made = Reconciler(
        github,
        nomad,
        made_pipeline,
        policy=policy,
        repos=served,
        remembered=HeardVariable(nomad, remembered, served, sleep=no_wait) if remembered else None,
        metrics=metrics,
        clock=clock,
    )
    return made, made_pipeline


class TestTick:
    async def test_a_missed_job_is_dispatched_through_the_webhook_paths_queue(
        self, github: FakeGitHub, nomad: FakeNomad, clock: Clock
    ) -> None:
        github.jobs[REPO] = [queued(7)]
        made, dispatcher = reconciler(github, nomad, clock)
        report = await made.tick()
        assert [o.result for o in report.outcomes] == ["queued"]
        await dispatcher.stop()
        assert ("generate_jitconfig", "rod-7-1") in github.calls
        assert ("dispatch", "rod-7-1") in nomad.calls

    async def test_nomad_is_read_before_github(
        self, github: FakeGitHub, nomad: FakeNomad, clock: Clock
    ) -> None:
        made, _ = reconciler(github, nomad, clock)
        github.calls.clear()
        await made.tick()
        # Children first; the credential Variables (which date childless runners) once GitHub
        # was read, listed once a tick.
        assert nomad.calls == [
            ("list_children", "github-runner"),
            ("list_variables", "nomad/jobs/github-runner/credentials/"),
        ]
        # Jobs before and after the runners, so a job taken in between is never a shortfall.
        assert github.calls == [
            ("list_queued_jobs", REPO),
            ("list_runners", REPO),
            ("list_queued_jobs", REPO),
        ]

    async def test_retiring_removes_the_runner_first_then_stops_the_child(
        self, github: FakeGitHub, nomad: FakeNomad, clock: Clock
    ) -> None:
        nomad.children = [child(7)]
        github.runners[REPO] = [runner(7)]
        made, _ = reconciler(github, nomad, clock)
        report = await made.tick()
        assert [str(o) for o in report.outcomes] == ["retired: runner removed, child stopped"]
        assert github.calls[-1] == ("delete_runner", 70)
        assert nomad.calls[-1] == ("stop_job", "github-runner/dispatch-7")

    async def test_a_runner_that_turned_busy_keeps_its_child(
        self, github: FakeGitHub, nomad: FakeNomad, clock: Clock
    ) -> None:
        nomad.children = [child(7)]
        github.runners[REPO] = [runner(7)]
        github.busy_on_delete.add(70)
        made, _ = reconciler(github, nomad, clock)
        report = await made.tick()
        assert [o.result for o in report.outcomes] == ["busy"]
        assert not any(call[0] == "stop_job" for call in nomad.calls)

    async def test_a_child_without_a_listed_runner_is_asked_about_by_name_first(
        self, github: FakeGitHub, nomad: FakeNomad, clock: Clock
    ) -> None:
        nomad.children = [child(7)]
        made, _ = reconciler(github, nomad, clock)

        async def appears(owner: str, repo: str, name: str) -> Runner | None:
            github.calls.append(("find_runner", name))
            return runner(7, busy=True)  # it registered and took a job after the listing

        github.find_runner = appears  # type: ignore[method-assign]
        report = await made.tick()
        assert [o.result for o in report.outcomes] == ["busy"]
        assert ("find_runner", "rod-7-1") in github.calls
        calls = [name for name, _ in [*nomad.calls, *github.calls]]
        assert "stop_job" not in calls and "delete_runner" not in calls

    async def test_when_nomad_cannot_be_read_nothing_is_done(
        self, github: FakeGitHub, nomad: FakeNomad, clock: Clock
    ) -> None:
        nomad.down = True
        github.jobs[REPO] = [queued(7)]
        made, dispatcher = reconciler(github, nomad, clock)
        report = await made.tick()
        assert report.plan is None and report.outcomes == ()
        assert report.problems == ("Nomad: Nomad GET /v1/jobs: ConnectError",)
        assert github.calls == [] and dispatcher.depth == 0

    async def test_when_the_credential_variables_cannot_be_read_nothing_is_done(
        self, github: FakeGitHub, nomad: FakeNomad, clock: Clock
    ) -> None:
        # Childless runners are dated by their Variables: no plan on a guess.
        github.jobs[REPO] = [queued(7)]
        github.runners[REPO] = [runner(8)]

        async def broken(prefix: str) -> list[VariableMeta]:
            raise NomadError("Nomad GET /v1/vars: ConnectError")

        nomad.list_variables = broken  # type: ignore[method-assign]
        made, dispatcher = reconciler(github, nomad, clock)
        report = await made.tick()
        assert report.plan is None and report.outcomes == ()
        assert report.problems == ("Nomad: Nomad GET /v1/vars: ConnectError",)
        assert dispatcher.depth == 0 and "delete_runner" not in [c for c, _ in github.calls]

    async def test_a_repository_github_would_not_list_is_left_alone(
        self, github: FakeGitHub, nomad: FakeNomad, clock: Clock
    ) -> None:
        github.failures["octo/broken"] = GitHubError("GitHub GET ...: 502 Bad Gateway", status=502)
        github.jobs[REPO] = [queued(7)]
        nomad.children = [child(8, repo="octo/broken")]  # idle, its job gone: would be retired
        made, _ = reconciler(github, nomad, clock, repos=(REPO, "octo/broken"))
        report = await made.tick()
        assert report.observation is not None and report.observation.repos == {REPO}
        assert [o.action.reason for o in report.outcomes] == ["no runner (missed webhook?)"]
        assert "octo/broken: GitHub GET ...: 502 Bad Gateway" in report.problems

    async def test_a_repository_github_answers_404_for_is_forgotten_and_logged_once(
        self,
        github: FakeGitHub,
        nomad: FakeNomad,
        clock: Clock,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        # Issue 10 item 7: `acme/app.git` from a signed delivery kept every tick partial, and
        # the last-success timestamp froze, for the life of the process.
        metrics = Metrics()
        github.failures["acme/app.git"] = GitHubError("GitHub GET ...: 404 Not Found", status=404)
        made, _ = reconciler(github, nomad, clock, metrics=metrics)
        made.repos.saw("acme/app.git")
        first = await made.tick()
        assert first.problems == ()
        assert metrics.registry.get_sample_value(
            "rod_reconcile_last_success_timestamp_seconds"
        ) == (NOW)
        clock.now += 60
        github.calls.clear()
        second = await made.tick()
        assert second.problems == () and ("list_queued_jobs", "acme/app.git") not in github.calls
        assert metrics.registry.get_sample_value(
            "rod_reconcile_last_success_timestamp_seconds"
        ) == (NOW + 60)
        made.repos.saw("acme/app.git")  # a webhook names it again: tried again, not logged again
        await made.tick()
        assert ("list_queued_jobs", "acme/app.git") in github.calls
        assert caplog.text.count("404 for acme/app.git") == 1

    async def test_a_rate_limit_stops_the_reading_and_asks_for_a_pause(
        self, github: FakeGitHub, nomad: FakeNomad, clock: Clock
    ) -> None:
        github.failures["octo/a"] = GitHubRateLimited("rate limit", status=403, retry_after=120.0)
        made, _ = reconciler(github, nomad, clock, repos=("octo/a", "octo/b"))
        report = await made.tick()
        assert report.retry_after == 120.0
        assert ("list_queued_jobs", "octo/b") not in github.calls

    async def test_repositories_come_from_config_webhooks_and_our_children(
        self, github: FakeGitHub, nomad: FakeNomad, clock: Clock
    ) -> None:
        nomad.children = [child(7, repo="octo/Child"), child(8, repo="other/repo")]
        policy = ReconcilePolicy(decision=Policy(allow=("octo",)))
        made, _ = reconciler(github, nomad, clock, policy=policy)
        made.repos.saw("octo/hooked")
        made.repos.saw("not a repo name")
        await made.tick()
        read = [repo for name, repo in github.calls if name == "list_runners"]
        assert read == ["octo/app", "octo/Child", "octo/hooked"]  # other/repo is not allowed

    async def test_a_childless_runner_ages_from_when_it_was_first_seen(
        self, github: FakeGitHub, nomad: FakeNomad, clock: Clock
    ) -> None:
        github.runners[REPO] = [runner(7)]
        made, _ = reconciler(github, nomad, clock)
        assert (await made.tick()).outcomes == ()
        clock.now += SETTINGS.boot_timeout_seconds
        (outcome,) = (await made.tick()).outcomes
        assert (outcome.action.reason, str(outcome)) == ("no Nomad job", "retired: runner removed")

    async def test_a_runner_dispatched_during_the_reads_is_still_capacity(
        self, github: FakeGitHub, nomad: FakeNomad, clock: Clock
    ) -> None:
        # Runner rod-7-1 is in flight when the tick starts and made after the runners were
        # listed; job 7 was taken meanwhile, so rod-7-1 will run job 8: nothing more to make.
        github.jobs[REPO] = [queued(8)]
        made, dispatcher = reconciler(github, nomad, clock)
        decision = decide(queued(7).event, POLICY.decision)
        assert isinstance(decision, StartRunner)
        submitted = dispatcher.submit(queued(7).event, decision, received_at=0.0)
        assert submitted is Admission.QUEUED
        github.after_listing_runners = dispatcher.join
        report = await made.tick()
        assert report.outcomes == ()
        assert [call for call in nomad.calls if call[0] == "dispatch"] == [("dispatch", "rod-7-1")]

    async def test_dispatches_wait_while_the_queue_is_busy(
        self, github: FakeGitHub, nomad: FakeNomad, clock: Clock
    ) -> None:
        github.jobs[REPO] = [queued(7), queued(8)]
        made, dispatcher = reconciler(github, nomad, clock, queue_size=2)
        report = await made.tick()
        assert [str(o) for o in report.outcomes] == ["queued", "deferred: dispatch queue busy"]
        assert dispatcher.depth == 1

    async def test_deferred_runners_make_one_line_per_tick(
        self,
        github: FakeGitHub,
        nomad: FakeNomad,
        clock: Clock,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        # Issue 10 item 8: one INFO line per deferred job per tick was 44,584 of 60,638 lines.
        caplog.set_level(logging.INFO, logger="runners_on_demand.reconcile.loop")
        github.jobs[REPO] = [queued(job) for job in range(7, 57)]
        made, _ = reconciler(github, nomad, clock, queue_size=2)
        report = await made.tick()
        assert [o.result for o in report.outcomes].count("deferred") == 49
        lines = [r.getMessage() for r in caplog.records if "deferred" in r.getMessage()]
        assert lines == [
            "reconcile: 49 runners deferred to the next tick (rod-8-1, rod-9-1, rod-10-1, ...)"
        ]

    async def test_a_used_credential_variable_is_destroyed(
        self, github: FakeGitHub, nomad: FakeNomad, clock: Clock
    ) -> None:
        nomad.children = [child(7)]
        github.runners[REPO] = [runner(7, busy=True)]
        for name in ("rod-7-1", "rod-8-1"):
            await nomad.put_variable(f"nomad/jobs/github-runner/credentials/{name}", {"x": "y"})
        made, _ = reconciler(github, nomad, clock)
        clock.now = 10.0  # rod-8-1 was written just now and has no child yet: kept
        await made.tick()
        assert list(nomad.variables) == ["nomad/jobs/github-runner/credentials/rod-8-1"]
        assert ("delete_variable", "nomad/jobs/github-runner/credentials/rod-7-1") in nomad.calls

    async def test_a_runner_stored_but_never_dispatched_is_dispatched_again(
        self, github: FakeGitHub, nomad: FakeNomad, clock: Clock
    ) -> None:
        # Issue 10 item 2: a process SIGKILLed between storing the credential and dispatching;
        # its runner idled out the grace, was retired and made again. Now it is dispatched.
        github.jobs[REPO] = [queued(7)]
        github.runners[REPO] = [replace(runner(7), status="offline")]
        await nomad.put_variable("nomad/jobs/github-runner/credentials/rod-7-1", {"x": "y"})
        made, dispatcher = reconciler(github, nomad, clock)
        report = await made.tick()
        await dispatcher.stop()
        assert [str(o) for o in report.outcomes] == ["queued"]
        assert report.outcomes[0].action.reason == "stored credential, no Nomad job"
        assert [c for c in nomad.calls if c[0] == "dispatch"] == [("dispatch", "rod-7-1")]
        assert [c for c in github.calls if c[0] in ("generate_jitconfig", "delete_runner")] == [
            ("generate_jitconfig", "rod-7-1")  # 409: the runner exists; none removed or made
        ]

    async def test_a_stored_runner_of_a_repository_not_read_keeps_its_credential(
        self, github: FakeGitHub, nomad: FakeNomad, clock: Clock
    ) -> None:
        # Its repository could not be read this tick: its job may still be queued. Destroying the
        # Variable then made the next tick retire the runner and make a retry instead of resuming.
        github.jobs[REPO] = [queued(7)]
        github.runners[REPO] = [replace(runner(7), status="offline")]
        path = "nomad/jobs/github-runner/credentials/rod-7-1"
        nomad.variables[path] = (VariableMeta(path, 1, clock.now - 600.0), {"jit_config": "x"})
        github.failures[REPO] = GitHubError("GitHub GET ...: 502 Bad Gateway", status=502)
        made, dispatcher = reconciler(github, nomad, clock)
        await made.tick()
        assert path in nomad.variables
        del github.failures[REPO]
        report = await made.tick()
        await dispatcher.stop()
        assert [o.action.reason for o in report.outcomes] == ["stored credential, no Nomad job"]
        assert [c for c in nomad.calls if c[0] == "dispatch"] == [("dispatch", "rod-7-1")]
        assert ("delete_runner", 70) not in github.calls

    async def test_metrics_count_ticks_and_actions(
        self, github: FakeGitHub, nomad: FakeNomad, clock: Clock
    ) -> None:
        metrics = Metrics()
        github.jobs[REPO] = [queued(7)]
        made, _ = reconciler(github, nomad, clock, metrics=metrics)
        await made.tick()
        text = metrics.render().decode()
        assert 'rod_reconcile_runs_total{outcome="ok"} 1.0' in text
        assert 'rod_reconcile_actions_total{action="dispatch",result="queued"} 1.0' in text
        (last,) = [line for line in text.splitlines() if line.startswith("rod_reconcile_last")]
        assert float(last.split()[1]) == NOW


class TestOnce:
    """`rod reconcile --once` from a periodic job (README): a fresh Reconciler each run."""

    CREDENTIALS = "nomad/jobs/github-runner/credentials/"

    @staticmethod
    async def retired_by_once_runs(
        github: FakeGitHub, nomad: FakeNomad, clock: Clock, runs: int
    ) -> list[RetireReason]:
        """Why the runs (one every 5 minutes, far past the 60 s grace) retired runners."""
        retired: list[RetireReason] = []
        for _ in range(runs):
            made, _ = reconciler(github, nomad, clock)
            report = await made.tick()
            assert report.plan is not None
            retired += [a.reason for a in report.plan.actions if isinstance(a, Retire)]
            clock.now += 300.0
        return retired

    async def test_a_childless_runner_is_dated_by_its_credential_variable(
        self, github: FakeGitHub, nomad: FakeNomad, clock: Clock
    ) -> None:
        # A JIT runner whose `rod serve` was killed after storing its credential, before the
        # dispatch; its job is gone. The Variable's ModifyTime outlives every process.
        github.runners[REPO] = [Runner(REPO, 70, "rod-7-1", "offline", False, ("self-hosted",))]
        path = f"{self.CREDENTIALS}rod-7-1"
        nomad.variables[path] = (VariableMeta(path, 1, clock.now - 30.0), {"jit_config": "x"})
        retired = await self.retired_by_once_runs(github, nomad, clock, 2)
        assert retired == [RetireReason.NO_NOMAD_JOB]  # the second run: 330 s after it was stored
        assert ("delete_runner", 70) in github.calls
        assert nomad.variables == {}  # "no Nomad job came"

    async def test_a_childless_variable_outlives_a_failing_scope_by_48_hours_at_most(
        self, github: FakeGitHub, nomad: FakeNomad, clock: Clock
    ) -> None:
        # Its repository is not in the Variable: while a served one fails to read, its job may
        # be queued there still. GitHub cancels a job queued for 48 hours, whatever is read.
        github.failures["octo/broken"] = GitHubError("GitHub GET ...: 502 Bad Gateway", status=502)
        path = f"{self.CREDENTIALS}rod-7-1"
        nomad.variables[path] = (VariableMeta(path, 1, clock.now), {"jit_config": "x"})
        made, _ = reconciler(github, nomad, clock, repos=(REPO, "octo/broken"))
        clock.now += 2 * 86_400.0 - 60.0
        await made.tick()
        assert path in nomad.variables
        clock.now += 60.0
        report = await made.tick()
        assert path not in nomad.variables
        assert report.plan is not None
        assert [d.why for d in report.plan.destroy] == ["no Nomad job came in 48 h"]

    async def test_a_stored_runner_of_a_queued_job_is_dispatched_again_not_retired(
        self, github: FakeGitHub, nomad: FakeNomad, clock: Clock
    ) -> None:
        github.jobs[REPO] = [queued(7)]
        github.runners[REPO] = [Runner(REPO, 70, "rod-7-1", "offline", False, ("self-hosted",))]
        path = f"{self.CREDENTIALS}rod-7-1"
        nomad.variables[path] = (VariableMeta(path, 1, clock.now - 600.0), {"jit_config": "x"})
        made, dispatcher = reconciler(github, nomad, clock)
        report = await made.tick()
        await dispatcher.stop()
        assert report.plan is not None
        (again,) = report.plan.actions  # the plan says it: `rod reconcile --dry-run` prints it
        assert [(o.action, str(o)) for o in report.outcomes] == [(again, "queued")]
        assert again.reason == "stored credential, no Nomad job"
        assert ("dispatch", "rod-7-1") in nomad.calls
        assert ("delete_runner", 70) not in github.calls

    async def test_a_childless_runner_without_a_variable_has_no_age_a_fresh_run_can_read(
        self, github: FakeGitHub, nomad: FakeNomad, clock: Clock
    ) -> None:
        # Made, then its process died before storing the credential: GitHub's runner listing
        # has no creation time, so only a reconciler that saw it before can date it (README).
        github.runners[REPO] = [Runner(REPO, 70, "rod-7-1", "offline", False, ("self-hosted",))]
        assert await self.retired_by_once_runs(github, nomad, clock, 12) == []
        made, _ = reconciler(github, nomad, clock)  # one long-lived reconciler (`rod serve`)
        await made.tick()
        clock.now += 300.0
        report = await made.tick()
        assert report.plan is not None
        assert [a.reason for a in report.plan.actions if isinstance(a, Retire)] == [
            RetireReason.NO_NOMAD_JOB
        ]


class TestRun:
    async def test_ticks_every_interval_and_longer_when_github_asks(
        self, github: FakeGitHub, nomad: FakeNomad, clock: Clock
    ) -> None:
        pauses: list[float] = []

        async def sleep(seconds: float) -> None:
            pauses.append(seconds)
            if len(pauses) == 1:
                github.failures[REPO] = GitHubRateLimited("x", status=429, retry_after=300.0)
            if len(pauses) == 3:
                raise asyncio.CancelledError

        made = Reconciler(
            github,
            nomad,
            pipeline(github, nomad),
            policy=POLICY,
            repos=ServedRepos([REPO]),
            sleep=sleep,
        )
        with pytest.raises(asyncio.CancelledError):
            await made.run(60.0)
        assert pauses == [60.0, 300.0, 300.0]

    async def test_an_unexpected_error_does_not_stop_the_loop(
        self, github: FakeGitHub, nomad: FakeNomad, clock: Clock
    ) -> None:
        pauses: list[float] = []

        async def sleep(seconds: float) -> None:
            pauses.append(seconds)
            if len(pauses) == 2:
                raise asyncio.CancelledError

        async def broken(parent: str) -> list[Child]:
            raise RuntimeError("bug")

        nomad.list_children = broken  # type: ignore[method-assign]
        made = Reconciler(
            github,
            nomad,
            pipeline(github, nomad),
            policy=POLICY,
            repos=ServedRepos([REPO]),
            sleep=sleep,
        )
        with pytest.raises(asyncio.CancelledError):
            await made.run(5.0)
        assert pauses == [5.0, 5.0]

    async def test_the_state_variable_is_read_at_the_start_and_written_between_ticks(
        self, github: FakeGitHub, nomad: FakeNomad, clock: Clock
    ) -> None:
        await nomad.put_variable(STATE, encode({"octo/old": ("octo/old", NOW)}), cas=0)
        made, dispatcher = reconciler(github, nomad, clock, repos=(), remembered=STATE)

        async def sleep(seconds: float) -> None:  # the interval before the first tick
            made.repos.saw("octo/new")  # a webhook meanwhile
            async with asyncio.timeout(10):
                while nomad.calls.count(("put_variable", STATE)) < 2:
                    await asyncio.sleep(0)
            raise asyncio.CancelledError

        made._sleep = sleep
        with pytest.raises(asyncio.CancelledError):
            await made.run(60.0)
        await dispatcher.stop()
        assert sorted(made.repos.names([])) == ["octo/new", "octo/old"]
        assert sorted(decode(nomad.variables[STATE][1])) == ["octo/new", "octo/old"]
        assert not [call for call in github.calls if call[0] == "list_queued_jobs"]  # no tick

    async def test_a_tick_rewrites_the_state_variable_without_what_github_answers_404_for(
        self, github: FakeGitHub, nomad: FakeNomad, clock: Clock
    ) -> None:
        github.failures["octo/gone"] = GitHubError("GitHub GET ...: 404 Not Found", status=404)
        both = {"octo/gone": ("octo/gone", NOW), REPO: (REPO, NOW)}
        await nomad.put_variable(STATE, encode(both), cas=0)  # written before a restart
        made, dispatcher = reconciler(github, nomad, clock, repos=(), remembered=STATE)
        await made.tick()
        await dispatcher.stop()
        assert list(decode(nomad.variables[STATE][1])) == [REPO]


class TestServedRepos:
    def test_a_repository_heard_of_is_forgotten_after_a_quiet_while(self) -> None:
        clock = Clock(NOW)
        served = ServedRepos(["octo/configured"], forget_after=3600.0, clock=clock)
        served.saw("octo/quiet")
        served.saw("octo/busy")
        clock.now += 3000.0
        served.saw("octo/busy")  # another event
        clock.now += 1000.0
        assert sorted(served.names([])) == ["octo/busy", "octo/configured"]
        assert sorted(served.names([child(7, repo="octo/quiet")])) == [
            "octo/busy",
            "octo/configured",
            "octo/quiet",  # one of our Nomad children still names it
        ]

    async def test_a_queued_job_keeps_its_repository_served(
        self, github: FakeGitHub, nomad: FakeNomad, clock: Clock
    ) -> None:
        made, dispatcher = reconciler(github, nomad, clock, repos=())
        made.repos = ServedRepos(forget_after=3600.0, clock=clock)
        made.repos.saw(REPO)
        github.jobs[REPO] = [queued(7)]
        clock.now += 3000.0
        await made.tick()
        clock.now += 3000.0
        await dispatcher.stop()
        assert REPO in made.repos.names([])

    async def test_a_job_acknowledged_before_a_crash_gets_a_runner_after_the_restart(
        self, github: FakeGitHub, nomad: FakeNomad, clock: Clock
    ) -> None:
        # `rod serve` acknowledged job 7's webhook, from a repository configured nowhere and with
        # no Nomad child yet, and was killed before a worker took the runner. GitHub never
        # redelivers an acknowledged delivery: only the restarted reconciler can serve the job,
        # and it knows the repository from the state Variable written soon after the webhook.
        quiet = "octo/quiet"
        github.jobs[quiet] = [queued(7, quiet)]
        served = ServedRepos(clock=clock)
        killed = pipeline(github, nomad, workers=0, on_repo=served.saw)
        killed.start()
        writer = asyncio.create_task(HeardVariable(nomad, STATE, served, sleep=no_wait).run())
        heard = replace(github.jobs[quiet][0].event, origin=Origin(Intake.WEBHOOK, "h/d-7"))
        assert isinstance(killed.offer(heard, received_at=0.0), Admitted)
        async with asyncio.timeout(10):  # soon after, off the webhook's path
            while ("put_variable", STATE) not in nomad.calls:
                await asyncio.sleep(0)
        writer.cancel()  # SIGKILL: the pipeline's queue is lost
        restarted, dispatcher = reconciler(github, nomad, clock, repos=(), remembered=STATE)
        report = await restarted.tick()
        await dispatcher.stop()
        assert ("dispatch", "rod-7-1") in nomad.calls, report.outcomes
