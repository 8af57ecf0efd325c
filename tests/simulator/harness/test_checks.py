"""The pure checks: each names what is wrong, and finds nothing when the promise holds."""

from __future__ import annotations

from simulator.harness import checks
from simulator.harness.observe import (
    AllocationView,
    ChildView,
    JobView,
    RunnerView,
    Snapshot,
)

REPO = "octo-org/hello-world"


def job(
    job_id: int = 7, labels: tuple[str, ...] = ("self-hosted", "linux"), **kw: object
) -> JobView:
    values: dict[str, object] = {
        "id": job_id,
        "run_id": 70,
        "name": f"job-{job_id}",
        "labels": labels,
        "status": "completed",
        "conclusion": "success",
        "runner_id": 100 + job_id,
        "runner_name": f"rod-{job_id}-1",
    }
    values.update(kw)
    return JobView(**values)  # type: ignore[arg-type]


def child(job_id: int = 7, allocation: str = "complete", **meta: str) -> ChildView:
    values = {
        "REPO_FULL_NAME": REPO,
        "REPO_SHORT_NAME": "hello-world",
        "WORKFLOW_RUN": "70",
        "GITHUB_JOB_ID": str(job_id),
        "RUNNER_NAME": f"rod-{job_id}-1",
        "RUNNER_LABELS": "self-hosted,linux",
    }
    values.update(meta)
    allocations = (AllocationView(f"alloc-{job_id}", allocation),)
    return ChildView(f"github-runner/dispatch-1-{job_id:08x}", "dead", values, allocations)


def runner(job_id: int = 7, labels: tuple[str, ...] = ("self-hosted", "linux")) -> RunnerView:
    return RunnerView(100 + job_id, f"rod-{job_id}-1", "online", True, labels)


class TestMissingLabels:
    def test_compares_case_insensitively(self) -> None:
        assert checks.missing_labels(["Self-Hosted", "GPU"], ["self-hosted", "linux"]) == ["GPU"]


class TestChildProblems:
    def test_one_matching_child_is_fine(self) -> None:
        assert checks.child_problems(Snapshot(children=(child(),)), job(), REPO) == []

    def test_no_child(self) -> None:
        problems = checks.child_problems(Snapshot(), job(), REPO)
        assert problems == ["0 Nomad children carry GITHUB_JOB_ID=7, expected 1"]

    def test_two_children_for_one_job(self) -> None:
        snapshot = Snapshot(children=(child(), child()))
        assert checks.child_problems(snapshot, job(), REPO) == [
            "2 Nomad children carry GITHUB_JOB_ID=7, expected 1"
        ]

    def test_meta_that_disagrees_with_the_webhook(self) -> None:
        snapshot = Snapshot(children=(child(WORKFLOW_RUN="71", RUNNER_LABELS="linux"),))
        problems = checks.child_problems(snapshot, job(), REPO)
        assert len(problems) == 2
        assert "WORKFLOW_RUN='71'" in problems[0]
        assert "RUNNER_LABELS lacks ['self-hosted']" in problems[1]


class TestPayloadProblems:
    def test_the_webhook_fields_and_no_credential(self) -> None:
        url = f"https://github.com/{REPO}"
        payload = {"repo": REPO, "job": "job-7", "run_id": 70, "url": url}
        assert checks.payload_problems(payload, job(), REPO) == []

    def test_wrong_run_and_a_credential_anyone_may_read(self) -> None:
        url = f"https://github.com/{REPO}"
        payload = {"repo": REPO, "job": "job-7", "run_id": 71, "url": url, "jit_config": "abc"}
        assert checks.payload_problems(payload, job(), REPO) == [
            "payload run_id=71, webhook said 70",
            "payload carries jit_config, which read-job can read",
        ]


class TestRegisteredRunnerProblems:
    def test_the_runner_carries_the_job_labels(self) -> None:
        assert checks.registered_runner_problems([runner()], "rod-7-1", job()) == []

    def test_never_seen(self) -> None:
        assert checks.registered_runner_problems([], "rod-7-1", job()) == [
            "0 runners named 'rod-7-1' seen on GitHub, expected 1"
        ]

    def test_missing_label(self) -> None:
        problems = checks.registered_runner_problems(
            [runner(labels=("self-hosted",))], "rod-7-1", job()
        )
        assert problems == ["runner 'rod-7-1' registered without labels ['linux']"]


class TestRanOnProblems:
    def test_the_very_runner(self) -> None:
        assert checks.ran_on_problems(job(), child(), [runner()]) == []

    def test_not_picked_up_yet(self) -> None:
        waiting = job(status="queued", conclusion=None, runner_id=None, runner_name=None)
        assert checks.ran_on_problems(waiting, child(), [runner()]) == [
            "job 7 is queued and no runner has picked it up"
        ]

    def test_stolen_by_another_runner(self) -> None:
        stolen = job(runner_name="rod-8-1", runner_id=108)
        assert checks.ran_on_problems(stolen, child(), [runner(), runner(8)]) == [
            "job 7 ran on 'rod-8-1', its Nomad child started 'rod-7-1'"
        ]

    def test_same_name_but_another_registration(self) -> None:
        assert checks.ran_on_problems(job(runner_id=999), child(), [runner()]) == [
            "job 7 ran on runner id 999, registered ids were [107]"
        ]


class TestDrainedProblems:
    def test_nothing_left(self) -> None:
        assert checks.drained_problems(Snapshot(children=(child(),))) == []

    def test_runner_and_allocation_left(self) -> None:
        snapshot = Snapshot(children=(child(allocation="running"),), runners=(runner(),))
        assert checks.drained_problems(snapshot) == [
            "runner rod-7-1#107 still registered (online)",
            "allocation alloc-7 still running",
        ]


class TestRunnerChildProblems:
    def test_the_child_that_started_the_jobs_runner(self) -> None:
        listened = child(7, GITHUB_JOB_ID="0", RUNNER_NAME="rod-ss3-aa")
        snapshot = Snapshot(children=(child(8), listened))
        picked = job(7, runner_name="rod-ss3-aa")
        assert checks.runner_child_problems(snapshot, picked, REPO) == []

    def test_not_picked_up_or_no_child(self) -> None:
        waiting = job(7, status="queued", runner_name=None)
        assert checks.runner_child_problems(Snapshot(), waiting, REPO) == [
            "job 7 is queued and no runner has picked it up"
        ]
        assert checks.runner_child_problems(Snapshot(children=(child(8),)), job(7), REPO) == [
            "0 Nomad children started runner rod-7-1, expected 1"
        ]

    def test_meta_of_another_run(self) -> None:
        snapshot = Snapshot(children=(child(7, WORKFLOW_RUN="71"),))
        (problem,) = checks.runner_child_problems(snapshot, job(7), REPO)
        assert problem.endswith("WORKFLOW_RUN='71'")


class TestStoryVerdicts:
    def test_listen_finds_each_jobs_runner_by_name(self) -> None:
        listened = [child(n, GITHUB_JOB_ID="0", RUNNER_NAME=f"rod-ss3-{n}") for n in (7, 8)]
        swapped = {7: 8, 8: 7}
        jobs = tuple(
            job(n, runner_name=f"rod-ss3-{swapped[n]}", runner_id=100 + swapped[n]) for n in (7, 8)
        )
        runners = [RunnerView(100 + n, f"rod-ss3-{n}", "online", True, ("self-hosted", "linux"))
                   for n in (7, 8)]  # fmt: skip
        snapshot = Snapshot(jobs=jobs, children=tuple(listened))
        assert [v.ok for v in checks.story_verdicts(snapshot, runners, REPO, listen=True)] == [
            True,
            True,
        ]
        assert not any(v.ok for v in checks.story_verdicts(snapshot, runners, REPO))

    def test_every_job_on_a_fresh_runner_and_none_for_the_hosted_job(self) -> None:
        hosted = job(
            9, labels=("ubuntu-latest",), status="queued", runner_id=None, runner_name=None
        )
        snapshot = Snapshot(jobs=(job(7), job(8), hosted), children=(child(7), child(8)))
        verdicts = checks.story_verdicts(snapshot, [runner(7), runner(8)], REPO)
        assert [v.ok for v in verdicts] == [True, True, True]
        assert verdicts[0].detail == "its own fresh runner, used once"
        assert verdicts[2].detail == "no runner (GitHub-hosted)"

    def test_a_runner_that_ran_two_jobs_fails_both(self) -> None:
        shared = {"runner_name": "rod-7-1", "runner_id": 107}
        snapshot = Snapshot(jobs=(job(7), job(8, **shared)), children=(child(7), child(8)))
        verdicts = checks.story_verdicts(snapshot, [runner(7), runner(8)], REPO)
        assert [v.ok for v in verdicts] == [False, False]
        assert "ran more than one job" in verdicts[0].detail

    def test_job_stealing_between_twins_is_still_a_fresh_runner_each(self) -> None:
        swapped = (
            job(7, runner_name="rod-8-1", runner_id=108),
            job(8, runner_name="rod-7-1", runner_id=107),
        )
        snapshot = Snapshot(jobs=swapped, children=(child(7), child(8)))
        verdicts = checks.story_verdicts(snapshot, [runner(7), runner(8)], REPO)
        assert [v.ok for v in verdicts] == [True, True]

    def test_a_runner_nobody_dispatched_fails(self) -> None:
        stranger = job(7, runner_name="someone-elses", runner_id=5)
        verdicts = checks.story_verdicts(Snapshot(jobs=(stranger,), children=(child(7),)), [], REPO)
        assert verdicts[0].detail == "job ran on someone-elses, which no Nomad child started"

    def test_an_unfinished_job_fails(self) -> None:
        waiting = job(7, status="queued", conclusion=None, runner_id=None, runner_name=None)
        verdicts = checks.story_verdicts(Snapshot(jobs=(waiting,), children=(child(7),)), [], REPO)
        assert verdicts[0].detail == "job is queued on no runner"

    def test_a_runner_made_for_the_hosted_job_fails(self) -> None:
        hosted = job(9, labels=("ubuntu-latest",))
        verdicts = checks.story_verdicts(Snapshot(jobs=(hosted,), children=(child(9),)), [], REPO)
        assert verdicts[0].ok is False


class TestServedOnceProblems:
    def test_a_replacement_for_a_stolen_job_counts_by_the_totals(self) -> None:
        # Job 7 ran on job 8's runner, job 8 on the retry made while 8 was still queued.
        retry = child(8, RUNNER_NAME="rod-8-1-r1")
        ran = (
            job(7, runner_name="rod-8-1", runner_id=108),
            job(8, runner_name="rod-8-1-r1", runner_id=109),
        )
        snapshot = Snapshot(jobs=ran, children=(child(8), retry))
        seen = [runner(8), RunnerView(109, "rod-8-1-r1", "online", False, ("self-hosted", "linux"))]
        assert checks.served_once_problems(snapshot, seen) == []
        # The per-job check of the article's stories insists on one child per job id.
        assert checks.story_verdicts(snapshot, seen, REPO)[0].ok is False

    def test_a_runner_that_ran_no_job_is_a_problem(self) -> None:
        snapshot = Snapshot(jobs=(job(7),), children=(child(7), child(8)))
        assert checks.served_once_problems(snapshot, [runner(7), runner(8)]) == [
            "runners started for no job: ['rod-8-1']"
        ]

    def test_an_unfinished_job_is_named(self) -> None:
        waiting = job(7, status="queued", conclusion=None, runner_id=None, runner_name=None)
        snapshot = Snapshot(jobs=(waiting,), children=())
        assert checks.served_once_problems(snapshot, []) == ["job 7: job is queued on no runner"]
