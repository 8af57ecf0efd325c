"""The real runner job spec, dispatched on the Nomad emulator's process driver, starts the fake
runner, which takes a job from the GitHub emulator: the whole path of one runner, no stand-ins."""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from runners_on_demand.contract import build_dispatch, credential_path
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


def _register_runner_job(nomad: httpx.Client) -> None:
    """The real spec, its task switched to `rod sim runner` (the only variables that change)."""
    variables = (
        f"runner_command = {json.dumps(sys.executable)}\n"
        'runner_args = ["-m", "simulator.runner", "--poll-wait", "1"]\ncpu = 100\nmemory = 128\n'
    )
    parsed = nomad.post("/v1/jobs/parse", json={"JobHCL": SPEC.read_text(), "Variables": variables})
    assert parsed.status_code == 200, parsed.text
    assert nomad.put("/v1/jobs", json={"Job": parsed.json()}).status_code == 200


def _finished_alloc(nomad: httpx.Client, child: str) -> dict[str, Any]:
    (alloc,) = wait_for(
        "the runner allocation to finish",
        lambda: _allocations(nomad, child),
        lambda allocs: len(allocs) == 1 and allocs[0]["ClientStatus"] in ("complete", "failed"),
        timeout=60,
    )
    result: dict[str, Any] = alloc
    return result


def test_one_dispatch_one_runner_one_job(github: GitHubEmulator, nomad: httpx.Client) -> None:
    _register_runner_job(nomad)

    spec = JobSpec(name="build", labels=["self-hosted"], duration_seconds=0.2, conclusion="success")
    run = github.backend.create_run("octo", "hello", name="CI", event="push", jobs=[spec])
    job = run.jobs[0]
    event = _event(github.url, job.id, run.id)
    decision = decide(event, Policy())
    assert isinstance(decision, StartRunner)
    _, jit = github.backend.generate_jitconfig(
        "octo", "hello", name=decision.runner_name, runner_group_id=1, labels=["self-hosted"]
    )
    request = build_dispatch(event, decision)
    stored = nomad.put(f"/v1/var/{credential_path(decision)}", json={"Items": {"jit_config": jit}})
    assert stored.status_code == 200, stored.text

    dispatched = nomad.post(
        f"/v1/job/{request.job_id}/dispatch",
        params={"idempotency_token": request.idempotency_token},
        json=request.body(),
    )
    assert dispatched.status_code == 200, dispatched.text
    child = dispatched.json()["DispatchedJobID"]

    alloc = _finished_alloc(nomad, child)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    rest = httpx.get(f"{github.url}/repos/octo/hello/actions/jobs/{job.id}", headers=headers)
    runners = httpx.get(f"{github.url}/repos/octo/hello/actions/runners", headers=headers)
    assert alloc["ClientStatus"] == "complete"
    assert (rest.json()["status"], rest.json()["conclusion"]) == ("completed", "success")
    assert rest.json()["runner_name"] == decision.runner_name
    assert runners.json()["total_count"] == 0
    assert nomad.get(f"/v1/job/{child}").json()["Status"] == "dead"


DEPLOY = SPEC.parent
ADMIN = {"X-Nomad-Token": "management"}


@pytest.fixture
def secured() -> Iterator[httpx.Client]:
    """ACLs on, both shipped policies applied as the README says, the runner job registered."""
    with (
        NomadEmulator(driver="process", acl_token=ADMIN["X-Nomad-Token"]) as emulator,
        httpx.Client(base_url=emulator.url, headers=ADMIN, timeout=10) as client,
    ):
        job_acl = {"Namespace": "default", "JobID": "github-runner", "Group": "runner",
                   "Task": "runner"}  # fmt: skip
        for name, extra in (("rod", {}), ("github-runner", {"JobACL": job_acl})):
            rules = (DEPLOY / f"{name}-policy.hcl").read_text()
            body = {"Name": name, "Rules": rules, **extra}
            assert client.put(f"/v1/acl/policy/{name}", json=body).status_code == 200
        _register_runner_job(client)
        yield client


def test_the_credential_travels_in_a_variable_only_the_runner_task_reads(
    github: GitHubEmulator, secured: httpx.Client
) -> None:
    """Issue 10 item 3, as the dispatcher does it: the Variable, then a dispatch without it."""
    body = {"Name": "rod", "Type": "client", "Policies": ["rod"]}
    rod = {"X-Nomad-Token": secured.post("/v1/acl/token", json=body).json()["SecretID"]}
    spec = JobSpec(name="build", labels=["self-hosted"], duration_seconds=0.2, conclusion="success")
    run = github.backend.create_run("octo", "hello", name="CI", event="push", jobs=[spec])
    event = _event(github.url, run.jobs[0].id, run.id)
    decision = decide(event, Policy())
    assert isinstance(decision, StartRunner)
    _, jit = github.backend.generate_jitconfig(
        "octo", "hello", name=decision.runner_name, runner_group_id=1, labels=["self-hosted"]
    )
    request = build_dispatch(event, decision)  # the payload (read-job reads it) holds no secret
    path = f"/v1/var/nomad/jobs/github-runner/credentials/{decision.runner_name}"

    written = secured.put(
        path, params={"cas": "0"}, json={"Items": {"jit_config": jit}}, headers=rod
    )
    assert written.status_code == 200, written.text
    dispatched = secured.post(
        "/v1/job/github-runner/dispatch",
        params={"idempotency_token": request.idempotency_token},
        json=request.body(),
        headers=rod,
    )
    assert dispatched.status_code == 200, dispatched.text
    child = dispatched.json()["DispatchedJobID"]

    alloc = _finished_alloc(secured, child)
    assert alloc["ClientStatus"] == "complete", alloc["TaskStates"]
    assert jit not in json.dumps(secured.get(f"/v1/job/{child}").json())
    assert secured.get(path, headers=rod).status_code == 403  # rod writes it, never reads it
    assert secured.delete(path, headers=rod).status_code == 204  # ... and removes it once used
    headers = {"Authorization": f"Bearer {TOKEN}"}
    rest = httpx.get(
        f"{github.url}/repos/octo/hello/actions/jobs/{run.jobs[0].id}", headers=headers
    )
    assert (rest.json()["conclusion"], rest.json()["runner_name"]) == (
        "success",
        decision.runner_name,
    )


def test_without_the_runner_policy_the_task_waits_for_its_credential(
    secured: httpx.Client,
) -> None:
    """A sub-path of the job's own path is not readable by its tasks without a policy: the
    blocking `nomadVar` shows it as a task pending on its template, not a runner without one."""
    assert secured.delete("/v1/acl/policy/github-runner").status_code == 200
    path = "/v1/var/nomad/jobs/github-runner/credentials/rod-9-1"
    secured.put(path, json={"Items": {"jit_config": "x"}})
    meta = {"REPO_FULL_NAME": "octo/hello", "REPO_SHORT_NAME": "hello", "WORKFLOW_RUN": "1",
            "GITHUB_JOB_ID": "9", "RUNNER_NAME": "rod-9-1"}  # fmt: skip
    payload = base64.b64encode(b'{"url": "http://127.0.0.1:9/octo/hello"}').decode()
    child = secured.post(
        "/v1/job/github-runner/dispatch", json={"Meta": meta, "Payload": payload}
    ).json()["DispatchedJobID"]
    (alloc,) = _allocations(secured, child)
    assert alloc["ClientStatus"] == "pending"
    last = alloc["TaskStates"]["runner"]["Events"][-1]
    assert last["DisplayMessage"] == (
        "Missing: nomad.var.block(nomad/jobs/github-runner/credentials/rod-9-1@default.global)"
    )
    secured.delete(f"/v1/job/{child}")
