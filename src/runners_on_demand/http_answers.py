"""The error answers and readiness probes `rod serve` and `rod listen` share.

Every error body is one line of JSON, `{"error": "..."}`; nothing ever answers with a stack trace.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from runners_on_demand.errors import UpstreamError
from runners_on_demand.webhook_edge import error_body

__all__ = ["ERROR_HANDLERS", "PROBE_TIMEOUT", "probe"]

log = logging.getLogger(__name__)

PROBE_TIMEOUT = 5.0  # seconds a readiness probe waits for an upstream


async def _http_error(request: Request, exc: Exception) -> Response:
    """404, 405 and the like, with the one-line JSON error body every answer has."""
    assert isinstance(exc, HTTPException)
    return Response(error_body(exc.detail), exc.status_code, media_type="application/json")


async def _server_error(request: Request, exc: Exception) -> Response:
    """A bug's 500 in one line of JSON; the server logs the traceback, the caller never sees it."""
    body = error_body("internal error; see the log")
    return Response(body, 500, media_type="application/json")


# Starlette's `exception_handlers` of both apps.
ERROR_HANDLERS: Mapping[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
    HTTPException: _http_error,
    Exception: _server_error,
}


async def probe(check: Awaitable[None]) -> str:
    """The word ok, or one line saying why not."""
    try:
        await asyncio.wait_for(check, PROBE_TIMEOUT)
    except UpstreamError as error:
        return str(error)
    except TimeoutError:
        return f"no answer within {PROBE_TIMEOUT:.0f}s"
    except Exception:  # a bug, or a credential that cannot even be used: not ready, and why
        log.exception("readiness probe failed")
        return "unexpected error; see the log"
    return "ok"
