"""Nomad reads through python-nomad (a client nobody here wrote) and job registration."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import nomad
import requests

from simulator.harness.github_client import HARNESS_USER_AGENT


def runner_job_spec(here: Path) -> Path:
    """The runner job spec of the source tree `here` is in, else the copy beside `here`.

    An installed wheel (the Docker image) has no deploy/; pyproject's wheel `force-include` ships
    the file next to this module.
    """
    source = here.parents[2] / "deploy" / "nomad" / "github-runner.nomad.hcl"
    return source if source.exists() else here.with_name(source.name)


RUNNER_JOB_SPEC = runner_job_spec(Path(__file__).resolve())


def runner_variables() -> dict[str, Any]:
    """Job variables that make the runner task run the fake runner with this interpreter.

    Only the variables the spec declares for this purpose change; the spec itself is the one
    deployed in production. Small resources let many runners fit on the emulated node.
    """
    return {
        "runner_command": sys.executable,
        "runner_args": ["-m", "simulator.runner"],
        "cpu": 100,
        "memory": 128,
    }


# Allocation client states that still hold resources
# (https://developer.hashicorp.com/nomad/api-docs/allocations, ClientStatus).
LIVE_CLIENT_STATUSES = frozenset({"pending", "running"})


def hcl_variables(values: Mapping[str, Any]) -> str:
    """Render variable values as an HCL2 variables file, the form `/v1/jobs/parse` takes.

    JSON strings, numbers and arrays are valid HCL2 literals.
    """
    return "".join(f"{name} = {json.dumps(value)}\n" for name, value in values.items())


class NomadApi:
    """The Nomad HTTP API as the suite sees it: python-nomad for reads and registration."""

    def __init__(self, address: str, token: str | None = None, *, timeout: int = 5) -> None:
        self.address = address.rstrip("/")
        self._token = token
        # python-nomad's own `user_agent=` fails without a token (api/base.py sets it on None).
        session = requests.Session()
        session.headers["User-Agent"] = HARNESS_USER_AGENT
        self.client = nomad.Nomad(
            address=self.address, token=token, timeout=timeout, session=session
        )

    def _headers(self) -> dict[str, str]:
        token = {"X-Nomad-Token": self._token} if self._token else {}
        return {"User-Agent": HARNESS_USER_AGENT, **token}

    # https://developer.hashicorp.com/nomad/api-docs/jobs#parse-job
    def parse_job(self, hcl: str, variables: Mapping[str, Any]) -> dict[str, Any]:
        """HCL2 job spec -> API job; python-nomad's `jobs.parse` cannot pass variables."""
        body = {"JobHCL": hcl, "Variables": hcl_variables(variables), "Canonicalize": True}
        response = httpx.post(
            f"{self.address}/v1/jobs/parse", json=body, headers=self._headers(), timeout=10
        )
        if response.is_error:
            raise httpx.HTTPStatusError(
                f"Nomad /v1/jobs/parse answered {response.status_code}: {response.text[:300]}",
                request=response.request,
                response=response,
            )
        job: dict[str, Any] = response.json()
        return job

    # https://developer.hashicorp.com/nomad/api-docs/jobs#create-job
    def register_job(self, job: Mapping[str, Any]) -> dict[str, Any]:
        """Register (or update) a job from its API form."""
        result: dict[str, Any] = self.client.jobs.register_job({"Job": dict(job)})
        return result

    def register_spec(self, path: Path, variables: Mapping[str, Any]) -> str:
        """Parse and register a job spec file; return the job ID."""
        job = self.parse_job(path.read_text(encoding="utf-8"), variables)
        self.register_job(job)
        job_id: str = job["ID"]
        return job_id

    # https://developer.hashicorp.com/nomad/api-docs/jobs#read-job
    def get_job(self, job_id: str) -> dict[str, Any]:
        """One job, with `Meta`, `Payload` and `Status`."""
        job: dict[str, Any] = self.client.job.get_job(job_id)
        return job

    # https://developer.hashicorp.com/nomad/api-docs/jobs#list-jobs
    def list_children(self, parent_id: str) -> list[dict[str, Any]]:
        """Dispatched children of a parameterized job (ID prefix `parent/`, ParentID checked)."""
        # python-nomad would send meta=True as "True"; Nomad's strconv.ParseBool takes both.
        stubs: list[dict[str, Any]] = self.client.jobs.get_jobs(prefix=f"{parent_id}/", meta="true")
        return [stub for stub in stubs if stub.get("ParentID") == parent_id]

    # https://developer.hashicorp.com/nomad/api-docs/jobs#stop-a-job
    def purge_children(self, parent_id: str) -> int:
        """Stop and purge every dispatched child of `parent_id`; return how many there were."""
        children = self.list_children(parent_id)
        for child in children:
            self.client.job.deregister_job(child["ID"], purge=True)
        return len(children)

    # https://developer.hashicorp.com/nomad/api-docs/jobs#list-job-allocations
    def list_allocations(self, job_id: str) -> list[dict[str, Any]]:
        """Allocations of one job (an unknown job gives [])."""
        allocations: list[dict[str, Any]] = self.client.job.get_allocations(job_id)
        return allocations

    # https://developer.hashicorp.com/nomad/api-docs/jobs#read-job-summary
    def get_summary(self, job_id: str) -> dict[str, Any]:
        """Job summary; a parent's `Children` counts Pending/Running/Dead children."""
        summary: dict[str, Any] = self.client.job.get_summary(job_id)
        return summary


class NomadControl:
    """The Nomad emulator's test-only control plane under `/_sim/`."""

    def __init__(self, address: str) -> None:
        self.address = address.rstrip("/")

    def reset(self) -> None:
        """Stop every allocation and forget every job."""
        response = httpx.post(f"{self.address}/_sim/reset", timeout=30)
        response.raise_for_status()


def register_runner_job(address: str, token: str | None = None) -> None:
    """Register the runner job before `rod serve` starts, as README's "Deploying" does: its
    `/readyz` answers 503 while the runner job is missing."""
    NomadApi(address, token).register_spec(RUNNER_JOB_SPEC, runner_variables())
