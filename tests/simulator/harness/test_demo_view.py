"""How rod demo shows a run: the change log for logs, and the live and summary tables."""

from __future__ import annotations

import io

from rich.console import Console

from simulator.harness.checks import Verdict
from simulator.harness.demo_view import changes, render, summary
from simulator.harness.observe import AllocationView, ChildView, JobView, RunnerView, Snapshot


def job(status: str, runner: str | None = None, conclusion: str | None = None) -> JobView:
    return JobView(1, 10, "build", ("self-hosted", "linux"), status, conclusion, 5, runner)


CHILD_META = {"RUNNER_NAME": "rod-1-1", "GITHUB_JOB_ID": "1"}


def child(allocation: str) -> ChildView:
    return ChildView(
        "github-runner/dispatch-1-a", "running", CHILD_META, (AllocationView("a1", allocation),)
    )


RUNNER = RunnerView(5, "rod-1-1", "online", True, ("self-hosted", "linux"))


class TestChanges:
    def test_reports_each_new_thing_once(self) -> None:
        first = Snapshot(jobs=(job("queued"),))
        second = Snapshot(
            jobs=(job("in_progress", "rod-1-1"),), children=(child("running"),), runners=(RUNNER,)
        )
        assert changes(Snapshot(), first) == ["job 1 build [self-hosted, linux]: queued"]
        assert changes(first, second) == [
            "job 1 build [self-hosted, linux]: in_progress on rod-1-1",
            "nomad: dispatched github-runner/dispatch-1-a for job 1 (running)",
            "github: runner rod-1-1 registered [self-hosted, linux] (online, busy)",
        ]
        assert changes(second, second) == []

    def test_a_scale_set_runner_is_dispatched_for_its_runner_not_job_0(self) -> None:
        meta = {"RUNNER_NAME": "rod-ss1-9f", "GITHUB_JOB_ID": "0"}
        listened = ChildView("github-runner/dispatch-1-b", "running", meta, ())
        assert changes(Snapshot(), Snapshot(children=(listened,))) == [
            "nomad: dispatched github-runner/dispatch-1-b for runner rod-ss1-9f (no allocation yet)"
        ]

    def test_reports_completion_and_removal(self) -> None:
        before = Snapshot(
            jobs=(job("in_progress", "rod-1-1"),), children=(child("running"),), runners=(RUNNER,)
        )
        after = Snapshot(
            jobs=(job("completed", "rod-1-1", "success"),), children=(child("complete"),)
        )
        assert changes(before, after) == [
            "job 1 build [self-hosted, linux]: completed (success) on rod-1-1",
            "nomad: github-runner/dispatch-1-a running, allocation complete",
            "github: runner rod-1-1 removed",
        ]


class TestRendering:
    def test_tables_show_jobs_children_runners_and_verdicts(self) -> None:
        snapshot = Snapshot(
            jobs=(job("in_progress", "rod-1-1"),), children=(child("running"),), runners=(RUNNER,)
        )
        console = Console(width=160, record=True, file=io.StringIO())
        console.print(render(snapshot, "pull request"))
        console.print(
            summary([Verdict(snapshot.jobs[0], True, "ran on fresh runner rod-1-1")], snapshot)
        )
        text = console.export_text()
        for expected in ("Workflow jobs (GitHub)", "dispatch-1-a", "rod-1-1", "ok", "fresh runner"):
            assert expected in text
