"""Errors of the emulated Actions service (runner scale sets), in its `{typeName, message}` shape.

    GitHubSimError (errors.py)
    └── ActionsServiceError                 `type_name`, `status`; VSS-style JSON body
        ├── InvalidRequest                  400 a malformed body or parameter
        ├── ApiVersionMissing               400 no `api-version` on an `_apis` call
        ├── JobStillRunning                 400 a busy runner cannot be removed
        ├── SessionExpired                  400 DELETE of a session that is gone
        ├── Unauthorized                    401 admin or message-queue token unknown or expired
        ├── RunnerScaleSetNotFound          404
        ├── RunnerGroupNotFound             404
        ├── AgentNotFound                   404
        ├── SessionNotFound                 404 PATCH (refresh) of a session that is gone
        ├── RunnerScaleSetExists            409 the name is taken in that runner group
        ├── SessionConflict                 409 the scale set already has an active session
        └── AgentExists                     409 a runner with that name exists

Facts relied on: clients read only `typeName` and `message` and match on substrings of
`typeName` (actions/scaleset errors.go); names and texts of the 409 session conflict, the 400
expired session and the 404 refresh come from users' logs (ARC #4285, actions/scaleset #123);
the busy-runner 400 from ARC's ADR 2022-12-27; the agent-exists 409 from ARC's
ephemeralrunner_controller.go. The other texts are not verified (simulator/README.md).
"""

from __future__ import annotations

from typing import Any

from simulator.github.errors import GitHubSimError

RUNTIME = "GitHub.Actions.Runtime.WebApi"
TASK = "GitHub.DistributedTask.WebApi"


class ActionsServiceError(GitHubSimError):
    """An Actions-service error: `status` and a .NET exception name in `typeName`."""

    type_name = f"{RUNTIME}.RunnerAdminException"
    namespace = RUNTIME

    def body(self) -> dict[str, Any]:
        """The VSS exception body: `typeName` is "Namespace.Type, Assembly", as logs show."""
        short = self.type_name.rsplit(".", 1)[-1]
        return {
            "$id": "1",
            "innerException": None,
            "message": self.message,
            "typeName": f"{self.type_name}, {self.namespace}",
            "typeKey": short,
            "errorCode": 0,
            "eventId": 3000,
        }


class InvalidRequest(ActionsServiceError):
    """400 for a malformed body or parameter (text not verified)."""

    status = 400
    type_name = "System.ArgumentException"
    namespace = "mscorlib"
    default_message = "The request is not valid."


class ApiVersionMissing(ActionsServiceError):
    """400 without `api-version` (Azure DevOps' wording; the Actions service's not verified)."""

    status = 400
    type_name = "Microsoft.VisualStudio.Services.WebApi.VssVersionNotSpecifiedException"
    namespace = "Microsoft.VisualStudio.Services.WebApi"
    default_message = (
        "No api-version was supplied for the request. The version must be supplied either as"
        ' part of the Accept header (e.g. "application/json; api-version=6.0-preview") or as a'
        ' query parameter (e.g. "?api-version=6.0-preview").'
    )


class JobStillRunning(ActionsServiceError):
    """400: the runner runs a job and cannot be removed now (ADR 2022-12-27)."""

    status = 400
    type_name = f"{TASK}.JobStillRunningException"
    namespace = TASK
    default_message = "The runner is still running a job."


class SessionExpired(ActionsServiceError):
    """400: DELETE of a session that no longer exists (ARC #4285)."""

    status = 400
    type_name = f"{RUNTIME}.RunnerScaleSetSessionExpiredException"


class Unauthorized(ActionsServiceError):
    """401: the bearer token is unknown or expired; for the queue, refresh the session."""

    status = 401
    type_name = "Microsoft.VisualStudio.Services.WebApi.VssUnauthorizedException"
    namespace = "Microsoft.VisualStudio.Services.WebApi"
    default_message = "The access token is not valid or has expired."


class RunnerScaleSetNotFound(ActionsServiceError):
    """404 RunnerScaleSetNotFoundException (ARC #3935)."""

    status = 404
    type_name = f"{RUNTIME}.RunnerScaleSetNotFoundException"


class RunnerGroupNotFound(ActionsServiceError):
    """404 for an unknown runner group id."""

    status = 404
    type_name = f"{RUNTIME}.RunnerGroupNotFoundException"


class AgentNotFound(ActionsServiceError):
    """404 AgentNotFoundException."""

    status = 404
    type_name = f"{TASK}.AgentNotFoundException"
    namespace = TASK


class SessionNotFound(ActionsServiceError):
    """404 on refreshing a session the service no longer has (actions/scaleset #123)."""

    status = 404
    default_message = "runner referenced a session ID that doesn't exist in redis"


class RunnerScaleSetExists(ActionsServiceError):
    """409: a scale set of that name exists in the runner group."""

    status = 409
    type_name = f"{RUNTIME}.RunnerScaleSetExistsException"


class SessionConflict(ActionsServiceError):
    """409 RunnerScaleSetSessionConflictException (ARC #4285, #3351)."""

    status = 409
    type_name = f"{RUNTIME}.RunnerScaleSetSessionConflictException"


class AgentExists(ActionsServiceError):
    """409 AgentExistsException: a runner with that name is registered."""

    status = 409
    type_name = f"{TASK}.AgentExistsException"
    namespace = TASK
