"""The scale set model as data: matching, the request lifecycle, statistics, message shapes."""

from __future__ import annotations

import json

import pytest

from simulator.github.actions import Job, JobSpec, Run, Runner
from simulator.github.scaleset import (
    REQUEST_LIFECYCLE,
    ZERO_TIME,
    Message,
    RunnerGroup,
    RunnerRequest,
    ScaleSet,
    entry,
    statistics,
)
from simulator.lifecycle import IllegalTransition

DEFAULT = RunnerGroup(1, "Default", True)


def scale_set(name: str = "rod", labels: tuple[str, ...] = (), scope: str = "acme/app") -> ScaleSet:
    return ScaleSet(
        1, scope, name, DEFAULT, [{"type": "System", "name": n} for n in labels], {}, 0.0
    )


def job(labels: list[str], repo: str = "acme/app") -> Job:
    return Job(7, 3, repo, JobSpec("build", labels), "CI", "sha", "main", 100.0, "queued")


def runner(state: str) -> Runner:
    return Runner(1, "r", "acme/app", [], 1, "s", 0.0, True, True, state=state, scale_set_id=1)


class TestScaleSetMatches:
    def test_the_name_or_every_label_any_case(self) -> None:
        rod = scale_set("rod", ("self-hosted", "Linux"))

        assert rod.matches(["rod"])
        assert rod.matches(["SELF-HOSTED", "linux"])
        assert not rod.matches(["linux", "gpu"])
        assert not rod.matches([])
        assert rod.label_names() == ["self-hosted", "Linux", "rod"]

    def test_scope(self) -> None:
        assert scale_set(scope="acme").in_scope(job(["rod"]))
        assert scale_set(scope="acme/app").in_scope(job(["rod"]))
        assert not scale_set(scope="acme/lib").in_scope(job(["rod"]))
        assert not scale_set(scope="other").in_scope(job(["rod"]))


class TestRequestLifecycle:
    def test_the_happy_path_and_reassignment(self) -> None:
        request = RunnerRequest(1, 7, 1, 0.0)
        for state in ("acquired", "assigned", "available", "acquired", "assigned", "running"):
            request.move(state)
        request.move("completed")
        assert REQUEST_LIFECYCLE.is_terminal(request.state)

    @pytest.mark.parametrize(
        ("start", "new"),
        [("available", "assigned"), ("running", "available"), ("acquired", "running")],
    )
    def test_no_shortcuts(self, start: str, new: str) -> None:
        with pytest.raises(IllegalTransition):
            RunnerRequest(1, 7, 1, 0.0, state=start).move(new)


class TestStatistics:
    def test_assigned_counts_waiting_and_running(self) -> None:
        states = ["available", "acquired", "assigned", "running", "running"]
        requests = [RunnerRequest(n, n, 1, 0.0, state=s) for n, s in enumerate(states)]

        stats = statistics(
            requests, [runner("busy"), runner("busy"), runner("idle"), runner("offline")]
        )

        assert stats == {
            "totalAvailableJobs": 1,
            "totalAcquiredJobs": 1,
            "totalAssignedJobs": 3,
            "totalRunningJobs": 2,
            "totalRegisteredRunners": 4,
            "totalBusyRunners": 2,
            "totalIdleRunners": 2,
        }


class TestShapes:
    def test_entries_carry_the_fields_of_their_type(self) -> None:
        request = RunnerRequest(
            1001, 7, 1, 100.0, runner_id=21, runner_name="rod-1", result="canceled"
        )
        run = Run(3, "acme/app", "CI", "push", "sha", "main", 1, 100.0)

        available = entry("JobAvailable", request, job(["rod"]), run, "http://x/svc/")
        completed = entry("JobCompleted", request, job(["rod"]), run, "http://x/svc/")

        assert available["acquireJobUrl"].startswith(
            "http://x/svc/_apis/runtime/runnerscalesets/1/"
        )
        assert "runnerId" not in available and "result" not in available
        assert (completed["runnerId"], completed["runnerName"], completed["result"]) == (
            21,
            "rod-1",
            "canceled",
        )
        assert completed["jobId"] != "7" and isinstance(completed["jobId"], str)
        assert (completed["repositoryName"], completed["ownerName"]) == ("app", "acme")
        assert completed["queueTime"].startswith("1970-01-01T00:01:40")
        assert completed["finishTime"] == ZERO_TIME

    def test_the_message_body_is_a_json_string(self) -> None:
        body = Message(5, [{"messageType": "JobAssigned"}]).to_json({"totalAssignedJobs": 1})

        assert isinstance(body["body"], str)
        assert json.loads(body["body"]) == [{"messageType": "JobAssigned"}]
        assert body["messageType"] == "RunnerScaleSetJobMessages"
