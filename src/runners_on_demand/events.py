"""The typed event every intake produces: what happened to a workflow job, and where it was heard.

An intake (the webhook edge, the reconciler's listings, the scale-set listener) turns what it
receives into a `WorkflowJobEvent`; the pipeline never learns more about where it came from than
its `Origin`, which only names the intake and gives the key that spots a repeated event.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import ClassVar

__all__ = ["Intake", "Origin", "WorkflowJobEvent"]


class Intake(enum.StrEnum):
    """The ways a job's event reaches the pipeline."""

    WEBHOOK = "webhook"  # a signed `workflow_job` delivery (`rod serve`)
    RECONCILE = "reconcile"  # a queued job found by listing GitHub (the reconciler)
    LISTEN = "listen"  # a job message of the runner scale set protocol (`rod listen`)


@dataclass(frozen=True, slots=True)
class Origin:
    """Where one event was heard: the intake and its key (a repeat of the event has the same)."""

    intake: Intake
    # webhook: "<hook id>/<delivery GUID>" (GitHub reuses the GUID across hooks and redeliveries);
    # reconcile: the runner name it wants; listen: the new runner's name (runners are made for
    # the count, not for one job).
    key: str


@dataclass(frozen=True, slots=True)
class WorkflowJobEvent:
    """The fields of a workflow job's event that the decision and the dispatch need."""

    # https://docs.github.com/webhooks/webhook-events-and-payloads#workflow_job
    event: ClassVar[str] = "workflow_job"
    origin: Origin
    action: str
    job_id: int
    run_id: int
    run_attempt: int
    job_name: str
    workflow_name: str | None
    labels: tuple[str, ...]
    status: str
    conclusion: str | None
    runner_id: int | None
    runner_name: str | None
    repo_full_name: str
    repo_owner: str
    repo_name: str
    repo_html_url: str
    fork: bool
    installation_id: int | None
    # `repository.private`; None when the intake could not tell. Org runner groups need it.
    repo_private: bool | None = None
