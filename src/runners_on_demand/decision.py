"""The decision: does this workflow job's event start a runner, and from which pool? Pure.

Labels compare case-insensitively, as GitHub matches runner labels
(https://docs.github.com/actions/hosting-your-own-runners/managing-self-hosted-runners/using-labels-with-self-hosted-runners).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field

from runners_on_demand.events import WorkflowJobEvent
from runners_on_demand.names import runner_name
from runners_on_demand.scope import RunnerGroup, RunnerScope

__all__ = [
    "DEFAULT_POOL",
    "MAX_LABELS",
    "MAX_LABEL_LENGTH",
    "Decision",
    "Ignore",
    "IgnoreReason",
    "Policy",
    "Pool",
    "StartRunner",
    "decide",
    "runner_scope",
]

# generate-jitconfig accepts 1 to 100 labels (REST docs, "Create configuration for a JIT runner"),
# each under 256 characters (GitHub answers 422 "Labels must be less than 256 characters in
# length"). A label also travels comma-joined in RUNNER_LABELS and to `config.sh --labels`, so
# no commas, and no control characters (NUL, newlines) in a Nomad meta value or a log line.
MAX_LABELS = 100
MAX_LABEL_LENGTH = 255
_LABEL = re.compile(rf"[^,\x00-\x1f\x7f-\x9f]{{1,{MAX_LABEL_LENGTH}}}")


class IgnoreReason(enum.StrEnum):
    """Why an event starts no runner; the values are the `reason` label of the metrics."""

    WAITING = "action:waiting"
    IN_PROGRESS = "action:in_progress"
    COMPLETED = "action:completed"
    OTHER_ACTION = "action:other"
    NO_TRIGGER_LABEL = "label:no-trigger"
    INVALID_LABELS = "label:invalid"
    REPO_NOT_ALLOWED = "repo:not-allowed"
    NO_POOL = "pool:none-matches"
    # A pool covers the labels, but its org runner group does not serve the repository.
    RUNNER_GROUP_REFUSES = "runner-group:repo-not-allowed"


_ACTIONS = {
    "waiting": IgnoreReason.WAITING,
    "in_progress": IgnoreReason.IN_PROGRESS,
    "completed": IgnoreReason.COMPLETED,
}


@dataclass(frozen=True)
class Pool:
    """A Nomad parameterized job that runs runners for jobs whose labels it covers."""

    name: str
    nomad_job: str
    # Lower-cased. Empty means "any job that carries the trigger label".
    labels: frozenset[str] = frozenset()
    # The name of an org runner group: this pool's runners are made at the organization, in it.
    runner_group: str | None = None
    # That group as GitHub lists it (id, access), resolved at start; None until then.
    group: RunnerGroup | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", frozenset(label.lower() for label in self.labels))

    def accepts(self, job_labels: frozenset[str], trigger_label: str) -> bool:
        """Whether this pool covers every (lower-cased) job label; the trigger label is implied."""
        return not self.labels or job_labels - {trigger_label.lower()} <= self.labels


DEFAULT_POOL = Pool("default", "github-runner")


@dataclass(frozen=True)
class Policy:
    """What the operator configured: trigger label, pools in order, allowlist (empty = all)."""

    trigger_label: str = "self-hosted"
    pools: tuple[Pool, ...] = (DEFAULT_POOL,)
    # Entries are `owner` or `owner/repo`, compared case-insensitively.
    allow: tuple[str, ...] = ()
    _allowed: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_allowed", frozenset(entry.lower() for entry in self.allow))

    def allows(self, owner: str, full_name: str) -> bool:
        """Whether the allowlist admits this repository."""
        allowed = self._allowed
        return not allowed or owner.lower() in allowed or full_name.lower() in allowed


@dataclass(frozen=True)
class StartRunner:
    """Start one runner for this job on `pool`; its name is also the Nomad idempotency token."""

    pool: Pool
    runner_name: str
    labels: tuple[str, ...]


@dataclass(frozen=True)
class Ignore:
    """No runner, and why."""

    reason: IgnoreReason


Decision = StartRunner | Ignore


def decide(event: WorkflowJobEvent, policy: Policy) -> Decision:
    """Start a runner for a queued job that asks for one, or say why not."""
    if event.action != "queued":
        return Ignore(_ACTIONS.get(event.action, IgnoreReason.OTHER_ACTION))
    job_labels = frozenset(label.lower() for label in event.labels)
    if policy.trigger_label.lower() not in job_labels:
        return Ignore(IgnoreReason.NO_TRIGGER_LABEL)
    if len(event.labels) > MAX_LABELS or not all(map(_LABEL.fullmatch, event.labels)):
        return Ignore(IgnoreReason.INVALID_LABELS)
    if not policy.allows(event.repo_owner, event.repo_full_name):
        return Ignore(IgnoreReason.REPO_NOT_ALLOWED)
    refused = False
    for pool in policy.pools:
        if not pool.accepts(job_labels, policy.trigger_label):
            continue
        if pool.runner_group is not None and not (
            pool.group and pool.group.allows(event.repo_full_name, event.repo_private)
        ):
            refused = True  # GitHub would never give the job to this pool's runners
            continue
        name = runner_name(event.job_id, event.run_attempt)
        return StartRunner(pool=pool, runner_name=name, labels=event.labels)
    return Ignore(IgnoreReason.RUNNER_GROUP_REFUSES if refused else IgnoreReason.NO_POOL)


def runner_scope(pool: Pool, repo_full_name: str) -> RunnerScope:
    """Where `pool`'s runner for a job of this repository is registered."""
    if pool.runner_group is not None and pool.group is not None:
        return RunnerScope(pool.group.org)
    owner, _, name = repo_full_name.partition("/")
    return RunnerScope(owner, name)
