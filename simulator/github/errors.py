"""Errors of the GitHub emulator, each carrying GitHub's real status and `{message, ...}` body.

    GitHubSimError                 base; `status`, `message`, `documentation_url`
    ├── BadRequest                 400 (e.g. an unsupported X-GitHub-Api-Version)
    ├── RequiresAuthentication     401 no credentials
    ├── BadCredentials             401 unknown or expired token, bad App JWT
    ├── Forbidden                  403
    │   └── RateLimited            403 with x-ratelimit-remaining: 0
    ├── SecondaryRateLimited       403 or 429 with retry-after (a secondary rate limit)
    ├── NotFound                   404
    ├── Conflict                   409 (e.g. a JIT runner name already taken)
    ├── ValidationFailed           422 with `errors[]`
    └── RunnerCredentialRejected   401 on the simulator-only runner API (`/_actions`)

HTTP responses are built from these only at the edge (`responses.py`).
"""

from __future__ import annotations

from typing import Any

# https://docs.github.com/rest/using-the-rest-api/troubleshooting-the-rest-api
DOCS = "https://docs.github.com/rest"
SECONDARY_DOCS = (
    "https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api"
    "#about-secondary-rate-limits"
)


class GitHubSimError(Exception):
    """An error GitHub would answer with `status` and a JSON `{message, documentation_url}`."""

    status = 500
    default_message = "Server Error"

    def __init__(self, message: str | None = None, *, documentation_url: str = DOCS) -> None:
        self.message = message or self.default_message
        self.documentation_url = documentation_url
        super().__init__(self.message)

    def headers(self) -> dict[str, str]:
        """Response headers this error adds (none by default)."""
        return {}

    def body(self) -> dict[str, Any]:
        """GitHub's error body; `status` is a string, as api.github.com sends it."""
        return {
            "message": self.message,
            "documentation_url": self.documentation_url,
            "status": str(self.status),
        }


class BadRequest(GitHubSimError):
    """400."""

    status = 400
    default_message = "Bad Request"


class RequiresAuthentication(GitHubSimError):
    """401 when no credentials were sent."""

    status = 401
    default_message = "Requires authentication"


class BadCredentials(GitHubSimError):
    """401 for an unknown, expired or malformed credential."""

    status = 401
    default_message = "Bad credentials"


class Forbidden(GitHubSimError):
    """403."""

    status = 403
    default_message = "Forbidden"


class RateLimited(Forbidden):
    """403 once the primary rate limit is spent."""

    # https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api
    default_message = "API rate limit exceeded."


class SecondaryRateLimited(GitHubSimError):
    """403 (or 429) with `retry-after` once a secondary rate limit is exceeded."""

    # https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api#exceeding-the-rate-limit
    status = 403
    default_message = (
        "You have exceeded a secondary rate limit. Please wait a few minutes before you try"
        " again. If you reach out to GitHub Support for help, please include the request ID {}."
    )

    def __init__(self, request_id: str, *, status: int = 403, retry_after: int = 60) -> None:
        super().__init__(
            self.default_message.format(request_id),
            documentation_url=SECONDARY_DOCS,
        )
        self.status = status
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        """`retry-after`, in seconds."""
        return {"retry-after": str(self.retry_after)}

    def body(self) -> dict[str, Any]:
        """`{documentation_url, message}` only, as the observed answer has it."""
        return {"documentation_url": self.documentation_url, "message": self.message}


class NotFound(GitHubSimError):
    """404, also for things the token may not see."""

    status = 404
    default_message = "Not Found"


class Conflict(GitHubSimError):
    """409."""

    status = 409
    default_message = "Conflict"


class ValidationFailed(GitHubSimError):
    """422 with GitHub's `errors[]` list (strings or `{resource, field, code}`)."""

    status = 422
    default_message = "Validation Failed"

    def __init__(self, message: str | None = None, *, errors: list[Any] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []

    def body(self) -> dict[str, Any]:
        """The base body plus `errors` when there are any."""
        body = super().body()
        if self.errors:
            body["errors"] = self.errors
        return body


class RunnerCredentialRejected(GitHubSimError):
    """401 from the simulator-only runner API: unknown, used or expired runner credential."""

    status = 401
    default_message = "runner credential rejected"

    def body(self) -> dict[str, Any]:
        """Only `{message}`, as docs/architecture.md fixes for `/_actions`."""
        return {"message": self.message}
