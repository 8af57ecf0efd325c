"""The runner scale set service's errors, a branch of the dispatcher's tree (errors.py).

    GitHubError
    ├── Refused               GitHub refuses to let the listener set up, for good (start.py):
    │                         one line for the operator; `rod listen` exits 2
    └── ServiceError          the Actions service (or runner-registration) answered an error:
        │                     `status`, the .NET `type_name`, `retry_after` when it said so
        ├── Unauthorized      401: the admin or the message-queue token is expired or unknown
        ├── NotFound          404: the scale set, the session or the runner is gone
        ├── SessionConflict   409 RunnerScaleSetSessionConflictException: a session is active
        ├── ScaleSetExists    409 RunnerScaleSetExistsException: created meanwhile
        ├── AgentExists       409 AgentExistsException: a runner of that name exists
        └── EmptyAnswer       a 2xx with no body where JSON was due (ARC #4285): transient

Retryable, as go-retryablehttp retries them ([S] common_client.go): no answer, 429, 5xx except
501, and an empty answer.
"""

from __future__ import annotations

from runners_on_demand.errors import GitHubError

__all__ = [
    "AgentExists",
    "EmptyAnswer",
    "NotFound",
    "Refused",
    "ScaleSetExists",
    "ServiceError",
    "SessionConflict",
    "Unauthorized",
    "service_error",
]


class Refused(GitHubError):
    """A refusal no retry will lift (credential, scope, runner group): the operator must act."""

    def __init__(self, line: str, *, status: int | None) -> None:
        super().__init__(line, status=status, retryable=False)


class ServiceError(GitHubError):
    """An error answer of the runner scale set service; `type_name` is its exception's name."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None,
        type_name: str = "",
        retry_after: float | None = None,
    ) -> None:
        transient = status is None or status == 429 or (status >= 500 and status != 501)
        super().__init__(message, status=status, retryable=transient)
        self.type_name = type_name
        self.retry_after = retry_after


class Unauthorized(ServiceError):
    """401: a token expired or is unknown; refresh it and try once more."""


class NotFound(ServiceError):
    """404: what the call named is gone (scale set, session, runner)."""


class SessionConflict(ServiceError):
    """409: the scale set already has an active session (a crashed listener's, for a while)."""


class ScaleSetExists(ServiceError):
    """409: a scale set of that name exists in the group."""


class AgentExists(ServiceError):
    """409: a runner of that name exists."""


class EmptyAnswer(ServiceError):
    """The service answered 2xx with no body where a JSON document was due."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message, status=status)
        self.retryable = True


# 409s told apart by the exception's name ([S] errors.go; ARC issues #3922, #4285).
_CONFLICTS: dict[str, type[ServiceError]] = {
    "RunnerScaleSetSessionConflictException": SessionConflict,
    "RunnerScaleSetExistsException": ScaleSetExists,
    "AgentExistsException": AgentExists,
}


def service_error(
    where: str, status: int, type_name: str, message: str, retry_after: float | None
) -> ServiceError:
    """The error for one answer; the type name's namespace and assembly are dropped."""
    short = type_name.split(",", 1)[0].rsplit(".", 1)[-1]
    text = f"{where}: {status} {short + ': ' if short else ''}{message}".rstrip(": ")
    kind: type[ServiceError] = ServiceError
    if status == 401:
        kind = Unauthorized
    elif status == 404:
        kind = NotFound
    elif status == 409:
        kind = _CONFLICTS.get(short, ServiceError)
    return kind(text, status=status, type_name=short, retry_after=retry_after)
