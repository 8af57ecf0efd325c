"""The real runner job spec, dispatched on the Nomad emulator's process driver, starts the fake
runner, which takes a job from the GitHub emulator: the whole path of one runner, no stand-ins."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from runners_on_demand.contract import JitConfig, build_dispatch
from runners_on_demand.decision import Policy, StartRunner, decide
from runners_on_demand.delivery import WorkflowJobEvent, parse_delivery
from simulator.emit import Target, build_delivery, workflow_job_payload
from simulator.github import GitHubEmulator
from simulator.github.actions import JobSpec
from simulator.github.webhooks import Hook
from simulator.harness.waiting import wait_for
from simulator.nomad import NomadEmulator

SPEC = Path(__file__).resolve().parents[3] / "deploy" / "nomad" / "github-runner.nomad.hcl"
TOKEN = "ghp_emulator_token"


@pytest.fixture
def github() -> Iterator[GitHubEmulator]:
    with GitHubEmulator(repos=["octo/hello"], tokens=[TOKEN]) as emulator:
        yield emulator


@pytest.fixture
def nomad() -> Iterator[httpx.Client]:
    with NomadEmulator(driver="process") as emulator, httpx.Client(base_url=emulator.url) as client:
        yield client


def _event(github_url: str, job_id: int, run_id: int) -> WorkflowJobEvent:
    hook = Hook(1, "octo/hello", 1, ["workflow_job"], True, {"url": "u", "secret": "s"}, 0, 0)
    payload = workflow_job_payload(
        Target("octo/hello", github_url=github_url), action="queued", labels=["self-hosted"],
        job_id=job_id, run_id=run_id, now=0.0,
    )  # fmt: skip
    event = parse_delivery(
        *build_delivery(hook, "workflow_job", payload, delivery_id="d"), secret="s"
    )
    assert isinstance(event, WorkflowJobEvent)
    return event


def _allocations(nomad: httpx.Client, job_id: str) -> list[dict[str, Any]]:
    allocations: list[dict[str, Any]] = nomad.get(f"/v1/job/{job_id}/allocations").json()
    return allocations


def test_one_dispatch_one_runner_one_job(github: GitHubEmulator, nomad: httpx.Client) -> None:
    variables = (
        f"runner_command = {json.dumps(sys.executable)}\n"
        'runner_args = ["-m", "simulator.runner", "--poll-wait", "1"]\ncpu = 100\nmemory = 128\n'
    )
    parsed = nomad.post("/v1/jobs/parse", json={"JobHCL": SPEC.read_text(), "Variables": variables})
    assert parsed.status_code == 200, parsed.text
    assert nomad.put("/v1/jobs", json={"Job": parsed.json()}).status_code == 200

    spec = JobSpec(name="build", labels=["self-hosted"], duration_seconds=0.2, conclusion="success")
    run = github.backend.create_run("octo", "hello", name="CI", event="push", jobs=[spec])
    job = run.jobs[0]
    event = _event(github.url, job.id, run.id)
    decision = decide(event, Policy())
    assert isinstance(decision, StartRunner)
    _, jit = github.backend.generate_jitconfig(
        "octo", "hello", name=decision.runner_name, runner_group_id=1, labels=["self-hosted"]
    )
    request = build_dispatch(event, decision, JitConfig(jit))

    dispatched = nomad.post(
        f"/v1/job/{request.job_id}/dispatch",
        params={"idempotency_token": request.idempotency_token},
        json=request.body(),
    )
    assert dispatched.status_code == 200, dispatched.text
    child = dispatched.json()["DispatchedJobID"]

    (alloc,) = wait_for(
        "the runner allocation to finish",
        lambda: _allocations(nomad, child),
        lambda allocs: len(allocs) == 1 and allocs[0]["ClientStatus"] in ("complete", "failed"),
        timeout=60,
    )
    headers = {"Authorization": f"Bearer {TOKEN}"}
    rest = httpx.get(f"{github.url}/repos/octo/hello/actions/jobs/{job.id}", headers=headers)
    runners = httpx.get(f"{github.url}/repos/octo/hello/actions/runners", headers=headers)
    assert alloc["ClientStatus"] == "complete"
    assert (rest.json()["status"], rest.json()["conclusion"]) == ("completed", "success")
    assert rest.json()["runner_name"] == decision.runner_name
    assert runners.json()["total_count"] == 0
    assert nomad.get(f"/v1/job/{child}").json()["Status"] == "dead"
