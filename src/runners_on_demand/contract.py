"""The contract with the runner's Nomad job: decision + credential -> dispatch Meta and Payload.

See docs/architecture.md ("Nomad dispatch contract") and deploy/nomad/github-runner.nomad.hcl.
Meta is readable by anyone who can read the job, so it never carries a credential; the runner
credential travels only in the Payload, which Nomad writes to the task's local/payload.json.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from runners_on_demand.decision import StartRunner
from runners_on_demand.errors import ContractError
from runners_on_demand.events import WorkflowJobEvent
from runners_on_demand.scope import RunnerScope

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "DispatchRequest",
    "JitConfig",
    "RegistrationToken",
    "RunnerCredential",
    "build_dispatch",
    "jitconfig_request",
]

# Nomad refuses larger dispatch payloads, counted decoded
# (nomad/job_endpoint.go: DispatchPayloadSizeLimit = 16 * 1024).
MAX_PAYLOAD_BYTES = 16 * 1024


@dataclass(frozen=True)
class JitConfig:
    """An `encoded_jit_config` from generate-jitconfig; `run.sh --jitconfig` takes it."""

    encoded: str
    # The runner GitHub registered for it (`runner.id` of the 201), when known, and where.
    runner_id: int | None = None
    scope: RunnerScope | None = field(default=None, compare=False)

    def __repr__(self) -> str:
        return (
            f"JitConfig(encoded=<redacted, {len(self.encoded)} chars>, runner_id={self.runner_id}, "
            f"scope={self.scope})"
        )


@dataclass(frozen=True)
class RegistrationToken:
    """A repository registration token for `config.sh --token` (lasts one hour)."""

    token: str

    def __repr__(self) -> str:
        return f"RegistrationToken(token=<redacted, {len(self.token)} chars>)"


RunnerCredential = JitConfig | RegistrationToken


@dataclass(frozen=True)
class DispatchRequest:
    """One `POST /v1/job/{job_id}/dispatch?idempotency_token=...` call, ready to send."""

    job_id: str
    idempotency_token: str
    meta: dict[str, str]
    payload: str  # base64 text; holds the runner credential

    def __repr__(self) -> str:
        return (
            f"DispatchRequest(job_id={self.job_id!r}, "
            f"idempotency_token={self.idempotency_token!r}, meta={self.meta!r}, "
            f"payload=<redacted, {len(self.payload)} chars>)"
        )

    def body(self) -> dict[str, Any]:
        """The JSON body of the dispatch call (Nomad's JobDispatchRequest)."""
        # https://developer.hashicorp.com/nomad/api-docs/jobs#dispatch-job
        return {"JobID": self.job_id, "Payload": self.payload, "Meta": dict(self.meta)}


def build_dispatch(
    event: WorkflowJobEvent, start: StartRunner, credential: RunnerCredential
) -> DispatchRequest:
    """The dispatch request for this job; `ContractError` if the payload would exceed 16 KiB."""
    meta = {
        "REPO_FULL_NAME": event.repo_full_name,
        "REPO_SHORT_NAME": event.repo_name,
        "WORKFLOW_RUN": str(event.run_id),
        "GITHUB_JOB_ID": str(event.job_id),
        "RUNNER_NAME": start.runner_name,
        "RUNNER_LABELS": ",".join(start.labels),
    }
    document: dict[str, Any] = {
        "repo": event.repo_full_name,
        "fork": event.fork,
        "job": event.job_name,
        "run_id": event.run_id,
        "url": event.repo_html_url,
    }
    group = start.pool.group if start.pool.runner_group else None
    if group is not None:
        # An org runner registers at the organization: https://github.com/{org} (config.sh --url)
        document["url"] = event.repo_html_url.rstrip("/").rpartition("/")[0]
    if isinstance(credential, JitConfig):
        document["jit_config"] = credential.encoded
    else:
        document["registration_token"] = credential.token
        if group is not None:
            document["runner_group"] = group.name  # config.sh --runnergroup
    raw = json.dumps(document, separators=(",", ":")).encode()
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise ContractError(
            f"dispatch payload for {start.runner_name} is {len(raw)} bytes; "
            f"Nomad accepts at most {MAX_PAYLOAD_BYTES}"
        )
    return DispatchRequest(
        job_id=start.pool.nomad_job,
        idempotency_token=start.runner_name,
        meta=meta,
        payload=base64.b64encode(raw).decode("ascii"),
    )


def jitconfig_request(start: StartRunner, runner_group_id: int) -> dict[str, Any]:
    """The body of `POST /repos/{owner}/{repo}/actions/runners/generate-jitconfig`."""
    # https://docs.github.com/rest/actions/self-hosted-runners#create-configuration-for-a-just-in-time-runner-for-a-repository
    return {
        "name": start.runner_name,
        "runner_group_id": runner_group_id,
        "labels": list(start.labels),
        "work_folder": "_work",
    }
