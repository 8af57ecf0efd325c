"""The error answers and readiness probes `rod serve` and `rod listen` share.

Every error body is one line of JSON, `{"error": "..."}`; nothing ever answers with a stack trace.
`/readyz` is unauthenticated, so an answer that costs upstream calls is `Reused` for a few
seconds, however often it is asked.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Generic, TypeVar

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from runners_on_demand.errors import UpstreamError
from runners_on_demand.webhook_edge import error_body

__all__ = ["ERROR_HANDLERS", "PROBE_TIMEOUT", "READY_CACHE_SECONDS", "Reused", "probe"]

log = logging.getLogger(__name__)

PROBE_TIMEOUT = 5.0  # seconds a readiness probe waits for an upstream
READY_CACHE_SECONDS = 5.0  # how long a readiness answer is reused
T = TypeVar("T")


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


class Reused(Generic[T]):
    """`await reused()`: `compute()`'s answer, computed again only once it is `seconds` old;
    callers meanwhile wait for the one computation under way."""

    def __init__(
        self, compute: Callable[[], Awaitable[T]], seconds: float, monotonic: Callable[[], float]
    ) -> None:
        self._compute = compute
        self._seconds = seconds
        self._monotonic = monotonic
        self._held: tuple[float, T] | None = None  # (when, answer)
        self._computing = asyncio.Lock()

    async def __call__(self) -> T:
        async with self._computing:
            now = self._monotonic()
            if self._held is None or now - self._held[0] >= self._seconds:
                self._held = (now, await self._compute())
            return self._held[1]
