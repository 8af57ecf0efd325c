"""The fields of a `workflow_job` payload the pipeline needs, decoded without the rest. Pure.

A delivery is about 11 KB of JSON of which rod reads twenty fields: msgspec decodes exactly
those into typed structs and skips the rest without building it (a seventh of the time
`json.loads` of the whole document takes). It accepts only what the standard path in
delivery.py accepts, with the same values; anything else (a wrong type, a null where a value is
needed, "" for a runner id, deep nesting, a bad full name or URL) makes `read` answer
None, and delivery.py takes the standard path, whose checks and error texts are the only ones.
delivery.py does without this module where msgspec has no wheel.
"""

from __future__ import annotations

import msgspec

from runners_on_demand.names import MAX_ATTEMPT, MAX_ID, is_valid_full_name

__all__ = ["Fields", "read"]


class _Repository(msgspec.Struct):
    # https://docs.github.com/webhooks/webhook-events-and-payloads#workflow_job
    full_name: str
    html_url: str
    fork: bool
    private: bool | None = None


class _Job(msgspec.Struct):
    id: int
    run_id: int
    run_attempt: int
    name: str
    labels: list[str]
    status: str
    workflow_name: str | None = None
    conclusion: str | None = None
    runner_id: int | None = None
    runner_name: str | None = None


class _Installation(msgspec.Struct):
    id: int | None = None


class Fields(msgspec.Struct):
    """What delivery.py turns into a `WorkflowJobEvent`."""

    action: str
    workflow_job: _Job
    repository: _Repository
    installation: _Installation | None = None


_DECODER = msgspec.json.Decoder(Fields)


def read(text: str) -> Fields | None:
    """The fields, when every check of the standard path would pass with them; else None."""
    try:
        fields = _DECODER.decode(text)
    except (msgspec.DecodeError, RecursionError):  # ValidationError is a DecodeError too
        return None
    job, repository, installation = fields.workflow_job, fields.repository, fields.installation
    optional = (job.runner_id or 0, installation.id or 0 if installation else 0)
    if (
        min(job.id, job.run_id, job.run_attempt) < 1
        or max(job.id, job.run_id, *optional) > MAX_ID
        or min(optional) < 0
        or job.run_attempt > MAX_ATTEMPT
        or not is_valid_full_name(repository.full_name)
        or not repository.html_url.startswith(("https://", "http://"))
    ):
        return None
    return fields
