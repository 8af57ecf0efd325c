"""The pure decision: does this `workflow_job` event get a runner, and from which pool?

Labels compare case-insensitively, as GitHub matches runner labels
(https://docs.github.com/actions/hosting-your-own-runners/managing-self-hosted-runners/using-labels-with-self-hosted-runners).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from runners_on_demand.delivery import WorkflowJobEvent

__all__ = [
    "DEFAULT_POOL",
    "IGNORE_REASONS",
    "Decision",
    "Dispatch",
    "Ignore",
    "Policy",
    "Pool",
    "decide",
    "runner_name",
]

# generate-jitconfig accepts 1 to 100 labels (REST docs, "Create configuration for a JIT runner").
MAX_LABELS = 100

# Every reason `decide` may give, so metrics can be registered up front.
IGNORE_REASONS = (
    "action:waiting",
    "action:in_progress",
    "action:completed",
    "action:other",
    "label:no-trigger",
    "label:invalid",
    "repo:not-allowed",
    "pool:none-matches",
)
_KNOWN_ACTIONS = ("waiting", "in_progress", "completed")


@dataclass(frozen=True)
class Pool:
    """A Nomad parameterized job that runs runners for jobs whose labels it covers."""

    name: str
    nomad_job: str
    # Lower-cased. Empty means "any job that carries the trigger label".
    labels: frozenset[str] = frozenset()

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
class Dispatch:
    """Start one runner for this job on `pool`."""

    pool: Pool
    runner_name: str
    idempotency_token: str
    labels: tuple[str, ...]


@dataclass(frozen=True)
class Ignore:
    """No runner; `reason` is short and machine-friendly (one of `IGNORE_REASONS`)."""

    reason: str


Decision = Dispatch | Ignore


def runner_name(job_id: int, run_attempt: int) -> str:
    """The runner name and Nomad idempotency token, unique per job and attempt."""
    return f"rod-{job_id}-{run_attempt}"


def decide(event: WorkflowJobEvent, policy: Policy) -> Decision:
    """Dispatch a runner for a queued job asking for one, or say why not."""
    if event.action != "queued":
        known = event.action in _KNOWN_ACTIONS
        return Ignore(f"action:{event.action}" if known else "action:other")
    job_labels = frozenset(label.lower() for label in event.labels)
    if policy.trigger_label.lower() not in job_labels:
        return Ignore("label:no-trigger")
    # Labels travel comma-joined in RUNNER_LABELS and to config.sh --labels.
    if len(event.labels) > MAX_LABELS or any(not label or "," in label for label in event.labels):
        return Ignore("label:invalid")
    if not policy.allows(event.repo_owner, event.repo_full_name):
        return Ignore("repo:not-allowed")
    for pool in policy.pools:
        if pool.accepts(job_labels, policy.trigger_label):
            name = runner_name(event.job_id, event.run_attempt)
            return Dispatch(
                pool=pool, runner_name=name, idempotency_token=name, labels=event.labels
            )
    return Ignore("pool:none-matches")
