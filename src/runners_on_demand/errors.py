"""One exception tree for the dispatcher; names say whose fault it is.

    DispatcherError
    ├── BadDelivery              the sender's: a webhook we refuse (status_hint 400)
    │   ├── SignatureMismatch    missing, SHA-1-only or wrong X-Hub-Signature-256 (401)
    │   ├── BodyTooLarge         over the configured cap (413)
    │   └── MalformedDelivery    unreadable body or a workflow_job without the needed fields (400)
    ├── ConfigError              the operator's: settings that cannot work; one line per problem
    ├── ContractError            ours: a dispatch that would break the Nomad job's contract
    ├── DispatchProcessFailed    ours: `rod serve`'s dispatch process failed a runner, or ended
    └── UpstreamError            GitHub's or Nomad's answer (or silence)
        ├── GitHubError          a GitHub API error; `status` and GitHub's `message`
        │   └── GitHubRateLimited    primary or secondary rate limit; `retry_after` seconds
        └── NomadError           a Nomad API error; `status` and Nomad's plain-text body
            └── NomadRejected    a validation error (HTTP 500 with a known text): never retried
                └── RunnerJobMissing  the runner job is missing, stopped or not parameterized

HTTP status codes are chosen only at the edge (`app.py`, `webhook_edge.py`), from `status_hint`.
"""

from __future__ import annotations


class DispatcherError(Exception):
    """Base of every error this package raises on purpose."""


class BadDelivery(DispatcherError):
    """A webhook delivery we refuse; the sender's fault."""

    status_hint = 400


class SignatureMismatch(BadDelivery):
    """The delivery is not signed with our secret."""

    status_hint = 401


class BodyTooLarge(BadDelivery):
    """The body is larger than the configured cap."""

    status_hint = 413


class MalformedDelivery(BadDelivery):
    """The body cannot be read, or lacks the fields the decision needs."""

    status_hint = 400


class ConfigError(DispatcherError):
    """Settings that cannot work; `problems` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class ContractError(DispatcherError):
    """A dispatch that would break the runner job's contract (e.g. payload over 16 KiB)."""


class DispatchProcessFailed(DispatcherError):
    """`rod serve`'s dispatch process hit a bug carrying out a runner, or is gone."""


class UpstreamError(DispatcherError):
    """GitHub or Nomad failed, answered an error, or could not be reached."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = True) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable


class GitHubError(UpstreamError):
    """A GitHub REST API error; the message is GitHub's `message`."""


class GitHubRateLimited(GitHubError):
    """GitHub's rate limit is spent; wait `retry_after` seconds (`status` None: never sent)."""

    def __init__(self, message: str, *, status: int | None, retry_after: float) -> None:
        super().__init__(message, status=status, retryable=True)
        self.retry_after = retry_after


class NomadError(UpstreamError):
    """A Nomad HTTP API error; the message is Nomad's plain-text body."""


class NomadRejected(NomadError):
    """Nomad refused the dispatch as invalid (unknown job, bad meta, payload too big)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message, status=status, retryable=False)


class RunnerJobMissing(NomadRejected):
    """Nomad cannot dispatch from the runner job: not registered, stopped, not parameterized."""
