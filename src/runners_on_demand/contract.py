"""The contract with the runner's Nomad job: decision -> dispatch Meta and Payload; credential ->
the Nomad Variable the runner task reads.

See docs/architecture.md ("Nomad dispatch contract") and deploy/nomad/github-runner.nomad.hcl.
Meta and Payload are readable by anyone who may read the job (`read-job`: `GET /v1/job/<child>`
returns both), so neither carries a credential. The credential goes into the Variable
`nomad/jobs/<runner job>/credentials/<runner name>`, which only the runner job's tasks may read
(deploy/nomad/github-runner-policy.hcl) and which its template renders into `secrets/`.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from runners_on_demand.decision import StartRunner
from runners_on_demand.errors import ContractError
from runners_on_demand.events import WorkflowJobEvent

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "DispatchRequest",
    "JitConfig",
    "RegistrationToken",
    "RunnerCredential",
    "build_dispatch",
    "credential_items",
    "credential_path",
    "credentials_prefix",
    "jitconfig_request",
]

# Nomad refuses larger dispatch payloads, counted decoded
# (nomad/job_endpoint.go: DispatchPayloadSizeLimit = 16 * 1024).
MAX_PAYLOAD_BYTES = 16 * 1024
# nomad/structs/variables.go: validVariablePath and maxVariableSize (keys + values, in bytes).
_VARIABLE_PATH = re.compile(r"[a-zA-Z0-9\-_~/]{1,128}")
MAX_VARIABLE_BYTES = 64 * 1024


@dataclass(frozen=True)
class JitConfig:
    """An `encoded_jit_config` from generate-jitconfig; `run.sh --jitconfig` takes it."""

    encoded: str
    # The runner GitHub registered for it (`runner.id` of the 201), when known.
    runner_id: int | None = None

    def __repr__(self) -> str:
        return (
            f"JitConfig(encoded=<redacted, {len(self.encoded)} chars>, runner_id={self.runner_id})"
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
    payload: str  # base64 text; no credential (see the module docstring)

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


def build_dispatch(event: WorkflowJobEvent, start: StartRunner) -> DispatchRequest:
    """The dispatch request for this job; `ContractError` if it cannot be sent as it is.

    Pure and done before any call (the pipeline builds it before making a runner), so a job that
    can never be dispatched leaves nothing behind on GitHub: a payload over Nomad's 16 KiB, or a
    runner job whose credential Variable path Nomad would refuse.
    """
    credential_path(start)  # raises for a path Nomad refuses
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
        document["runner_group"] = group.name  # config.sh --runnergroup (registration tokens)
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


def credentials_prefix(nomad_job: str) -> str:
    """Where a runner job's credential Variables live: `nomad/jobs/<job>/credentials/`."""
    # Below nomad/jobs/<job>: a task reads it only through a policy attached to the job
    # (acl/acl.go: implicit access stops at nomad/jobs/<job>/<group>/<task>).
    return f"nomad/jobs/{nomad_job}/credentials/"


def credential_path(start: StartRunner) -> str:
    """The Variable holding this runner's credential; `ContractError` if Nomad would refuse it."""
    path = credentials_prefix(start.pool.nomad_job) + start.runner_name
    if _VARIABLE_PATH.fullmatch(path) is None:
        raise ContractError(
            f"credential Variable path {path!r} is not a valid Nomad Variable path "
            "(at most 128 of A-Z a-z 0-9 - _ ~ /): shorten the pool's nomad_job"
        )
    return path


def credential_items(credential: RunnerCredential) -> Mapping[str, str]:
    """The Variable's one item: `jit_config` or `registration_token` (the job spec's names)."""
    if isinstance(credential, JitConfig):
        items = {"jit_config": credential.encoded}
    else:
        items = {"registration_token": credential.token}
    if sum(len(k.encode()) + len(v.encode()) for k, v in items.items()) > MAX_VARIABLE_BYTES:
        raise ContractError(f"credential is over Nomad's {MAX_VARIABLE_BYTES}-byte Variable limit")
    return items


def jitconfig_request(start: StartRunner, runner_group_id: int) -> dict[str, Any]:
    """The body of `POST /repos/{owner}/{repo}/actions/runners/generate-jitconfig`."""
    # https://docs.github.com/rest/actions/self-hosted-runners#create-configuration-for-a-just-in-time-runner-for-a-repository
    return {
        "name": start.runner_name,
        "runner_group_id": runner_group_id,
        "labels": list(start.labels),
        "work_folder": "_work",
    }
