"""What the reliability scenarios do to the world: emulator faults, redelivery, forged webhooks.

Faults and cancellation go through the emulators' `/_sim/` control planes (simulator/README.md);
redelivery goes through GitHub's REST API, as an operator would click "Redeliver".
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from simulator.harness.github_client import REST_HEADERS

# simulator/github/webhooks.py FAULT_MODES
WEBHOOK_FAULTS = ("drop", "duplicate", "delay", "reorder")
# The dispatch route of https://developer.hashicorp.com/nomad/api-docs/jobs#dispatch-job, as a glob.
DISPATCH_ROUTE = "/v1/job/*/dispatch"


def _checked(response: httpx.Response, what: str) -> Any:
    """The JSON body, or an HTTPStatusError that says which call failed and how."""
    if response.is_error:
        raise httpx.HTTPStatusError(
            f"{what} answered {response.status_code}: {response.text[:200]}",
            request=response.request,
            response=response,
        )
    return response.json() if response.content else None


def add_webhook_fault(github_url: str, mode: str, count: int = 1, delay: float = 1.0) -> None:
    """The next `count` webhook deliveries are dropped, duplicated, delayed or reordered."""
    if mode not in WEBHOOK_FAULTS:
        raise ValueError(f"webhook fault {mode!r}: choose one of {', '.join(WEBHOOK_FAULTS)}")
    body = {"mode": mode, "count": count, "delay_seconds": delay}
    response = httpx.post(f"{github_url}/_sim/webhooks/faults", json=body, timeout=5)
    _checked(response, "POST /_sim/webhooks/faults")


def cancel_job(github_url: str, job_id: int) -> dict[str, Any]:
    """Cancel a workflow job, as "Cancel workflow" would; the job as the REST API shows it."""
    response = httpx.post(f"{github_url}/_sim/jobs/{job_id}/cancel", timeout=5)
    job: dict[str, Any] = _checked(response, f"POST /_sim/jobs/{job_id}/cancel")
    return job


def add_nomad_fault(
    nomad_url: str, path: str, count: int, status: int, hang_seconds: float = 0.0
) -> None:
    """The next `count` POSTs to `path` (a glob) answer `status` instead of reaching Nomad.

    With `hang_seconds`, each first waits that long, as a Nomad server that lost its leader does.
    """
    body = {
        "method": "POST",
        "path": path,
        "count": count,
        "status": status,
        "body": "No cluster leader",  # what Nomad says while it has no leader
        "hang_seconds": hang_seconds,
    }
    _checked(httpx.post(f"{nomad_url}/_sim/faults", json=body, timeout=5), "POST /_sim/faults")


def nomad_faults_left(nomad_url: str) -> int:
    """Uses left of the Nomad emulator's injected faults; 0 once every hang has begun."""
    response = httpx.get(f"{nomad_url}/_sim/faults", timeout=5)
    return sum(int(fault["count"]) for fault in _checked(response, "GET /_sim/faults"))


def nomad_answers(nomad_url: str, path: str) -> list[int]:
    """The status of every POST to `path` (a glob) Nomad's emulator answered, oldest first."""
    params = {"method": "POST", "path": path}
    response = httpx.get(f"{nomad_url}/_sim/requests", params=params, timeout=5)
    return [int(r["status"]) for r in _checked(response, "GET /_sim/requests")]


def github_calls(github_url: str, method: str, path: str) -> int:
    """How many `method` requests to `path` (a glob) GitHub's emulator answered."""
    params = {"method": method, "path": path}
    response = httpx.get(f"{github_url}/_sim/requests", params=params, timeout=5)
    return len(_checked(response, "GET /_sim/requests"))


def redeliver(github_url: str, token: str, repo: str, hook_id: int, delivery_id: int) -> None:
    """Ask GitHub to send a past delivery again (202 Accepted).

    https://docs.github.com/rest/repos/webhooks#redeliver-a-delivery-for-a-repository-webhook
    """
    headers = {**REST_HEADERS, "Authorization": f"Bearer {token}"}
    path = f"/repos/{repo}/hooks/{hook_id}/deliveries/{delivery_id}/attempts"
    response = httpx.post(f"{github_url}{path}", headers=headers, timeout=5)
    _checked(response, f"POST {path}")
    assert response.status_code == 202, f"POST {path} answered {response.status_code}, not 202"


@dataclass(frozen=True)
class ForgedWebhook:
    """A `workflow_job` `queued` event for a job GitHub never had, signed some wrong way."""

    repo: str
    job_id: int
    labels: tuple[str, ...]

    def body(self) -> bytes:
        """The event, shaped as GitHub sends it (docs: webhook-events-and-payloads#workflow_job)."""
        owner, name = self.repo.split("/", 1)
        job = {
            "id": self.job_id,
            "run_id": self.job_id + 1,
            "run_attempt": 1,
            "name": "exfiltrate",
            "workflow_name": "CI",
            "status": "queued",
            "conclusion": None,
            "labels": list(self.labels),
            "runner_id": None,
            "runner_name": None,
        }
        repository = {
            "id": 1,
            "name": name,
            "full_name": self.repo,
            "owner": {"login": owner},
            "html_url": f"https://github.com/{self.repo}",
            "fork": False,
        }
        event = {"action": "queued", "workflow_job": job, "repository": repository}
        return json.dumps(event).encode()

    def headers(self, signature: str | None) -> dict[str, str]:
        """GitHub's delivery headers, with `signature` as X-Hub-Signature-256 (None: left out)."""
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "GitHub-Hookshot/forged",
            "X-GitHub-Event": "workflow_job",
            "X-GitHub-Delivery": str(uuid.uuid4()),
        }
        if signature is not None:
            headers["X-Hub-Signature-256"] = signature
        return headers


def signature(secret: str, body: bytes) -> str:
    """`sha256=<hex HMAC-SHA256(secret, body)>` (docs: validating-webhook-deliveries)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


# How a forger signs, given the real secret it does not have: each gives the header value.
FORGERIES: dict[str, Callable[[str, bytes], str | None]] = {
    "a wrong secret": lambda secret, body: signature("not-" + secret, body),
    "no signature": lambda secret, body: None,
    "a signature of another body": lambda secret, body: signature(secret, body + b" "),
}


def post_forged(webhook_url: str, secret: str, forged: ForgedWebhook, how: str) -> httpx.Response:
    """POST the forged event to the dispatcher, signed `how` (a key of FORGERIES)."""
    if how not in FORGERIES:
        raise ValueError(f"forgery {how!r}: choose one of {', '.join(FORGERIES)}")
    body = forged.body()
    headers = forged.headers(FORGERIES[how](secret, body))
    return httpx.post(webhook_url, content=body, headers=headers, timeout=5)
