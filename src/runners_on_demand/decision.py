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
    "MAX_PLACED",
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
# The (label set, repository, visibility) answers a policy remembers.
MAX_PLACED = 4096
_LABEL = re.compile(rf"[^,\x00-\x1f\x7f-\x9f]{{1,{MAX_LABEL_LENGTH}}}")


class IgnoreReason(enum.StrEnum):
    """Why an event starts no runner; the values are the `reason` label of the metrics."""

    WAITING = "action:waiting"
    # `queued` for a job still awaiting an environment's approval: GitHub sends `queued` again
    # once it is approved, and the reconciler does not count it until then.
    AWAITING_APPROVAL = "status:waiting"
    IN_PROGRESS = "action:in_progress"
    COMPLETED = "action:completed"
    OTHER_ACTION = "action:other"
    NO_TRIGGER_LABEL = "label:no-trigger"
    INVALID_LABELS = "label:invalid"
    REPO_NOT_ALLOWED = "repo:not-allowed"
    NO_POOL = "pool:none-matches"
    # A pool covers the labels, but its org runner group does not serve the repository.
    RUNNER_GROUP_REFUSES = "runner-group:repo-not-allowed"


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


_Where = tuple[tuple[str, ...], str, bool | None]  # a job's labels, repository, its visibility


@dataclass(frozen=True)
class Policy:
    """What the operator configured: trigger label, pools in order, allowlist (empty = all)."""

    trigger_label: str = "self-hosted"
    pools: tuple[Pool, ...] = (DEFAULT_POOL,)
    # Entries are `owner` or `owner/repo`, compared case-insensitively.
    allow: tuple[str, ...] = ()
    _allowed: frozenset[str] = field(init=False, repr=False, compare=False)
    # `place`'s answers so far: a policy never changes (a new one is made), so neither do they.
    _placed: dict[_Where, Pool | Ignore] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_allowed", frozenset(entry.lower() for entry in self.allow))
        object.__setattr__(self, "_placed", {})

    def allows(self, full_name: str) -> bool:
        """Whether the allowlist admits this repository (`owner/name`), or its owner."""
        allowed = self._allowed
        if not allowed:
            return True
        lowered = full_name.lower()
        return lowered in allowed or lowered.partition("/")[0] in allowed

    def place(self, labels: tuple[str, ...], full_name: str, private: bool | None) -> Pool | Ignore:
        """The pool for a queued job of these labels in this repository, or why there is none.

        Jobs come with a handful of label sets from a handful of repositories, so the answers
        are remembered, up to `MAX_PLACED` of them (then forgotten all at once).
        """
        where = (labels, full_name, private)
        placed = self._placed.get(where)
        if placed is None:
            if len(self._placed) >= MAX_PLACED:
                self._placed.clear()
            placed = self._placed[where] = _place(self, labels, full_name, private)
        return placed


@dataclass(frozen=True, slots=True)
class StartRunner:
    """Start one runner for this job on `pool`; its name is also the Nomad idempotency token."""

    pool: Pool
    runner_name: str
    labels: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Ignore:
    """No runner, and why."""

    reason: IgnoreReason


Decision = StartRunner | Ignore

_IGNORED_ACTIONS = {
    "waiting": Ignore(IgnoreReason.WAITING),
    "in_progress": Ignore(IgnoreReason.IN_PROGRESS),
    "completed": Ignore(IgnoreReason.COMPLETED),
}
_IGNORE_OTHER_ACTION = Ignore(IgnoreReason.OTHER_ACTION)


def decide(event: WorkflowJobEvent, policy: Policy) -> Decision:
    """Start a runner for a queued job that asks for one, or say why not."""
    if event.action != "queued":
        return _IGNORED_ACTIONS.get(event.action, _IGNORE_OTHER_ACTION)
    placed = policy.place(event.labels, event.repo_full_name, event.repo_private)
    if isinstance(placed, Ignore):
        return placed
    if event.status == "waiting":  # its runner would idle until retired, and be missed then
        return Ignore(IgnoreReason.AWAITING_APPROVAL)
    name = runner_name(event.job_id, event.run_attempt)
    return StartRunner(pool=placed, runner_name=name, labels=event.labels)


def _place(
    policy: Policy, labels: tuple[str, ...], full_name: str, private: bool | None
) -> Pool | Ignore:
    """`Policy.place`, worked out."""
    job_labels = frozenset(label.lower() for label in labels)
    if policy.trigger_label.lower() not in job_labels:
        return Ignore(IgnoreReason.NO_TRIGGER_LABEL)
    if len(labels) > MAX_LABELS or not all(map(_LABEL.fullmatch, labels)):
        return Ignore(IgnoreReason.INVALID_LABELS)
    if not policy.allows(full_name):
        return Ignore(IgnoreReason.REPO_NOT_ALLOWED)
    refused = False
    for pool in policy.pools:
        if not pool.accepts(job_labels, policy.trigger_label):
            continue
        if pool.runner_group is not None and not (
            pool.group and pool.group.allows(full_name, private)
        ):
            refused = True  # GitHub would never give the job to this pool's runners
            continue
        return pool
    return Ignore(IgnoreReason.RUNNER_GROUP_REFUSES if refused else IgnoreReason.NO_POOL)


def runner_scope(pool: Pool, repo_full_name: str) -> RunnerScope:
    """Where `pool`'s runner for a job of this repository is registered."""
    if pool.runner_group is not None and pool.group is not None:
        return RunnerScope(pool.group.org)
    owner, _, name = repo_full_name.partition("/")
    return RunnerScope(owner, name)
