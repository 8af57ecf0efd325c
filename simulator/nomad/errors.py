"""Errors of the Nomad emulator, each carrying the real HTTP status and text/plain body.

Nomad's HTTP layer (`command/agent/http.go` `wrap`) answers uncoded server errors with 500 and the
message as a `text/plain` body; coded errors keep their code. The tree:

    NomadSimError
    ├── BadRequest (400)          e.g. `Request body is empty`, `Job ID does not match`
    │   └── AclDisabled (400)     `ACL support disabled`
    ├── PermissionDenied (403)    `Permission denied`
    ├── NotFound (404)            `job not found`, `variable not found`, `ACL token not found`
    ├── RouteNotFound (404)       Go's `404 page not found`
    ├── MethodNotAllowed (405)    `Invalid method`
    ├── VariableConflict (409)    a lost check-and-set; the body is the current variable (JSON)
    └── ServerError (500)         plain Go errors, e.g. dispatch or variable validation
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


class NomadSimError(Exception):
    """An error answered with `status` and the text/plain `message`."""

    status = 500
    default_message = ""

    def __init__(self, message: str | None = None) -> None:
        self.message = message if message is not None else self.default_message
        self.headers: dict[str, str] = {}
        super().__init__(self.message)


class BadRequest(NomadSimError):
    """A request Nomad's HTTP agent rejects before the server sees it."""

    status = 400


class PermissionDenied(NomadSimError):
    """Missing or wrong ACL token (`structs.ErrPermissionDenied`)."""

    status = 403
    default_message = "Permission denied"


class NotFound(NomadSimError):
    """A coded 404 from a handler, e.g. `job not found`."""

    status = 404
    default_message = "job not found"


class RouteNotFound(NomadSimError):
    """No handler for the path: Go's `http.NotFound` body, newline included."""

    status = 404
    default_message = "404 page not found\n"


class MethodNotAllowed(NomadSimError):
    """A method the handler does not accept (`ErrInvalidMethod`)."""

    status = 405
    default_message = "Invalid method"


class AclDisabled(BadRequest):
    """`aclDisabled` (nomad/acl_endpoint.go L38): an ACL endpoint on an agent without ACLs."""

    default_message = "ACL support disabled"


class VariableConflict(NomadSimError):
    """A check-and-set lost (command/agent/variable_endpoint.go `variableUpsert`).

    Nomad calls WriteHeader(409) before encoding the current variable, so its Content-Type is set
    by Go's sniffing: `text/plain; charset=utf-8`, as here. `X-Nomad-Index` is its ModifyIndex.
    """

    status = 409

    def __init__(self, current: Mapping[str, Any]) -> None:
        super().__init__(json.dumps(current, separators=(",", ":")))
        self.headers = {"X-Nomad-Index": str(current.get("ModifyIndex", 0))}


class ServerError(NomadSimError):
    """An uncoded server-side error, which `wrap()` turns into a 500."""

    status = 500


def multierror(messages: list[str]) -> str:
    """Format messages as hashicorp/go-multierror does (`ListFormatFunc`)."""
    noun = "error" if len(messages) == 1 else "errors"
    points = "".join(f"\t* {m}\n" for m in messages)
    return f"{len(messages)} {noun} occurred:\n{points}\n"
