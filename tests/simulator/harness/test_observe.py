"""Views over API bodies: Meta decoded, payloads decoded, runners remembered after they go."""

from __future__ import annotations

import base64
import json

from simulator.harness.github_client import ScriptedJob
from simulator.harness.observe import (
    ChildView,
    JobView,
    RunnerLedger,
    RunnerView,
    decode_payload,
)


class TestJobView:
    def test_reads_the_jobs_api_body(self) -> None:
        body = {
            "id": 5,
            "run_id": 9,
            "name": "build",
            "labels": ["self-hosted", "Linux"],
            "status": "in_progress",
            "conclusion": None,
            "runner_id": 3,
            "runner_name": "rod-5-1",
        }
        job = JobView.from_api(body)
        assert (job.id, job.run_id, job.runner_name) == (5, 9, "rod-5-1")
        assert job.self_hosted

    def test_a_hosted_job_is_not_self_hosted(self) -> None:
        assert not ScriptedJob("docs", ("ubuntu-latest",)).self_hosted
        assert ScriptedJob("x", ("Self-Hosted",)).as_json()["labels"] == ["Self-Hosted"]


class TestChildView:
    def test_meta_gives_runner_job_and_labels(self) -> None:
        meta = {"RUNNER_NAME": "rod-5-1", "GITHUB_JOB_ID": "5", "RUNNER_LABELS": "a,b"}
        child = ChildView("github-runner/dispatch-1-x", "running", meta, ())
        assert (child.runner_name, child.github_job_id, child.labels) == ("rod-5-1", 5, ("a", "b"))

    def test_missing_or_odd_meta_is_none(self) -> None:
        child = ChildView("c", "running", {"GITHUB_JOB_ID": "five"}, ())
        assert (child.runner_name, child.github_job_id, child.labels) == (None, None, ())


class TestDecodePayload:
    def test_base64_json(self) -> None:
        payload = {"repo": "o/r", "jit_config": "x"}
        job = {"Payload": base64.b64encode(json.dumps(payload).encode()).decode()}
        assert decode_payload(job) == payload

    def test_no_payload(self) -> None:
        assert decode_payload({"Payload": None}) == {}


class TestRunnerLedger:
    def test_remembers_the_first_sighting_of_each_runner(self) -> None:
        ledger = RunnerLedger()
        ledger.record([RunnerView(1, "rod-5-1", "offline", False, ("self-hosted",))])
        ledger.record([RunnerView(1, "rod-5-1", "online", True, ("self-hosted",))])
        ledger.record([])
        (seen,) = ledger.named("rod-5-1")
        assert seen.status == "offline"
        ledger.clear()
        assert ledger.named("rod-5-1") == []
