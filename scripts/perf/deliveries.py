"""Signed `queued` workflow_job deliveries, distinct per number, cheap to make in bulk."""

from __future__ import annotations

import hashlib
import hmac
import json
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "tests" / "samples" / "workflow_job" / "06.queued.json"
SECRET = "bench-secret"
FIRST_JOB_ID = 50_000_000_000
# A job id found nowhere else in the sample: each delivery replaces it with its own.
_MARK = b"777000777000777"


@cache
def _template() -> bytes:
    """The sample as GitHub sends it (compact JSON), its job id replaced by the mark."""
    document = json.loads(SAMPLE.read_text())
    document["workflow_job"]["id"] = int(_MARK)
    document["workflow_job"]["status"] = "queued"  # approved: the example awaits approval
    body = json.dumps(document, separators=(",", ":")).encode()
    assert body.count(_MARK) == 1
    return body


def repository() -> str:
    """The repository every delivery names."""
    full_name: str = json.loads(SAMPLE.read_text())["repository"]["full_name"]
    return full_name


def job_id(n: int) -> int:
    """The workflow job id of delivery `n`."""
    return FIRST_JOB_ID + n


def delivery(n: int, secret: str = SECRET) -> tuple[bytes, dict[str, str]]:
    """Delivery `n`: its body and headers (its own job id, delivery GUID and signature)."""
    body = _template().replace(_MARK, str(job_id(n)).encode())
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/perf",
        "X-GitHub-Event": "workflow_job",
        "X-GitHub-Delivery": f"perf-{n:012d}",
        "X-GitHub-Hook-ID": "1",
        "X-Hub-Signature-256": signature,
    }
    return body, headers


def raw_request(n: int, host: str, secret: str = SECRET) -> bytes:
    """Delivery `n` as the bytes of an HTTP/1.1 keep-alive request to `/webhook`."""
    body, headers = delivery(n, secret)
    lines = ["POST /webhook HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def runner_name(n: int) -> str:
    """The runner rod names for delivery `n` (run attempt 1 in the sample)."""
    return f"rod-{job_id(n)}-1"
