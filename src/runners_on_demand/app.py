"""The webhook intake's HTTP edge (Starlette): `/webhook`, `/healthz`, `/readyz`, `/metrics`.

A verified `workflow_job` delivery becomes the pipeline's event (`delivery.parse_delivery`) and
is offered to the pipeline (`pipeline.Pipeline.offer`); the answer says what the pipeline did.

HTTP status codes are chosen here and only here, from the errors' `status_hint`. Every error body
is one line of JSON, `{"error": "..."}`; nothing ever answers with a stack trace.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, NamedTuple

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from runners_on_demand.backoff import Backoff
from runners_on_demand.config import Settings
from runners_on_demand.decision import Ignore
from runners_on_demand.delivery import OtherEvent, Ping, parse_delivery
from runners_on_demand.dispatch_process import DispatchProcess
from runners_on_demand.errors import (
    BadDelivery,
    BodyTooLarge,
    ConfigError,
    MalformedDelivery,
    SignatureMismatch,
    UpstreamError,
)
from runners_on_demand.intake_first import IntakeFirst
from runners_on_demand.metrics import CONTENT_TYPE, Metrics
from runners_on_demand.pipeline import Admission, Pipeline
from runners_on_demand.ports import GitHubPort, NomadPort
from runners_on_demand.token_check import TokenCheck, TokenStatus, check_token, needs_of
from runners_on_demand.wiring import build, clients

log = logging.getLogger(__name__)

# How long /readyz waits for each upstream, and how long its answer is reused: the endpoint is
# unauthenticated, and each probe costs one GitHub and one Nomad call.
PROBE_TIMEOUT = 5.0
READY_CACHE_SECONDS = 5.0
# What a delivery id may look like in a log line (GitHub's are UUIDs); anything else is masked,
# since the header arrives before the signature is checked.
_DELIVERY_ID = re.compile(r"[0-9A-Za-z-]{1,64}")
_OUTCOMES: dict[type[BadDelivery], str] = {
    SignatureMismatch: "bad_signature",
    BodyTooLarge: "too_large",
    MalformedDelivery: "malformed",
}


def create_app(
    settings: Settings,
    *,
    github_transport: httpx.AsyncBaseTransport | None = None,
    nomad_transport: httpx.AsyncBaseTransport | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    backoff: Backoff | None = None,
    dispatch_process: bool = False,
) -> Starlette:
    """The dispatcher as an ASGI app; tests plug GitHub and Nomad in through the transports.

    With `dispatch_process` (`rod serve`'s default), runners are carried out by a child process
    forked here (dispatch_process.py), which reaches the upstreams on its own connections.
    """
    if not settings.webhook_secret:
        raise ConfigError(["GITHUB_WEBHOOK_SECRET is empty; refusing to start"])
    if dispatch_process and (github_transport or nomad_transport):
        raise ValueError("the dispatch process cannot use this process's transports")
    metrics = Metrics()
    intake = IntakeFirst()
    github_client, nomad_client = clients(
        settings,
        github_transport=github_transport,
        nomad_transport=nomad_transport,
        before_each_call=intake.turn,
    )
    carrier = DispatchProcess(settings, backoff=backoff) if dispatch_process else None
    parts = build(
        settings,
        github_client,
        nomad_client,
        metrics=metrics,
        clock=clock,
        sleep=sleep,
        backoff=backoff,
        carrier=carrier,
    )
    pipeline, reconciler = parts.pipeline, parts.reconciler
    if carrier is not None:  # the credential calls, which spend the quota, are the child's

        def remaining() -> int | None:
            seen = carrier.rate_limit_remaining
            return parts.github.rate_limit_remaining if seen is None else seen

        metrics.track_rate_limit(remaining)
    edge = _Edge(settings, pipeline, metrics, parts.github, parts.nomad, intake)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if carrier is not None:
            await carrier.start()
        pipeline.start()
        interval = settings.reconcile.interval_seconds
        loop = asyncio.create_task(reconciler.run(interval)) if interval > 0 else None
        try:
            yield
        finally:
            if loop is not None:
                loop.cancel()
                await asyncio.gather(loop, return_exceptions=True)
            await pipeline.stop()
            if carrier is not None:
                await carrier.close()
            await github_client.aclose()
            await nomad_client.aclose()

    app = Starlette(
        routes=[
            Route("/webhook", edge.webhook, methods=["POST"]),
            Route("/healthz", edge.healthz, methods=["GET"]),
            Route("/readyz", edge.readyz, methods=["GET"]),
            Route("/metrics", edge.metrics, methods=["GET"]),
        ],
        exception_handlers={HTTPException: _http_error},
        lifespan=lifespan,
    )
    app.state.pipeline = pipeline
    app.state.metrics = metrics
    app.state.reconciler = reconciler
    app.state.carrier = carrier
    return app


def _error(status: int, message: str) -> JSONResponse:
    response = JSONResponse({"error": " ".join(message.split())}, status_code=status)
    if status in (408, 413):
        # The rest of the body is unread: close, or uvicorn keeps draining it for the sender.
        response.headers["Connection"] = "close"
    return response


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return _error(exc.status_code, exc.detail)


class _Answer(NamedTuple):
    """A webhook's response plus what the metrics and the delivery log line say about it."""

    response: Response
    event: str
    outcome: str = "error"
    detail: str = ""


class _Edge:
    """The route handlers, sharing one pipeline, one metrics registry and the two ports."""

    def __init__(
        self,
        settings: Settings,
        pipeline: Pipeline,
        metrics: Metrics,
        github: GitHubPort,
        nomad: NomadPort,
        intake: IntakeFirst,
    ) -> None:
        self._intake = intake
        self._settings = settings
        self._pipeline = pipeline
        self._metrics = metrics
        self._github = github
        self._nomad = nomad
        self._ready: tuple[float, dict[str, Any], int] | None = None  # (when, body, status)
        self._probing = asyncio.Lock()

    async def webhook(self, request: Request) -> Response:
        """Verify, decide, queue; answer before GitHub or Nomad are called (and before any
        call of theirs goes again: intake_first.py)."""
        with self._intake.answering():
            return await self._answer(request)

    async def _answer(self, request: Request) -> Response:
        started = self._pipeline.monotonic()
        delivery = _loggable(request.headers.get("x-github-delivery", "-"))
        try:
            answer = await self._webhook(request, started)
        except Exception:
            log.exception("delivery %s: unexpected error", delivery)
            answer = _Answer(_error(500, "internal error; see the dispatcher's log"), "unknown")
        event = self._metrics.bounded("event", answer.event)
        self._metrics.webhooks.labels(event=event, outcome=answer.outcome).inc()
        self._metrics.ack_seconds.observe(self._pipeline.monotonic() - started)
        log.info(
            "delivery %s event=%s outcome=%s status=%d%s",
            delivery,
            answer.event,
            answer.outcome,
            answer.response.status_code,
            answer.detail,
        )
        return answer.response

    async def _webhook(self, request: Request, started: float) -> _Answer:
        # A body trickled in slowly would hold a connection open indefinitely: 408 Request
        # Timeout (RFC 9110 section 15.5.9) once it has taken longer than the configured limit.
        limit = self._settings.server.body_timeout_seconds
        try:
            async with asyncio.timeout(limit):
                body = await self._read_body(request)
            parsed = parse_delivery(request.headers, body, secret=self._settings.webhook_secret)
        except TimeoutError:
            response = _error(408, f"request body not received within {limit:g}s")
            return _Answer(response, "unverified", "timeout", " error=body timeout")
        except BadDelivery as error:
            # A malformed body came with a good signature, so its event header can be trusted.
            event = "unverified"
            if isinstance(error, MalformedDelivery):
                event = request.headers.get("x-github-event", "unknown")[:64] or "unknown"
            outcome = _OUTCOMES.get(type(error), "bad_request")
            return _Answer(_error(error.status_hint, str(error)), event, outcome, f" error={error}")
        if isinstance(parsed, Ping):
            return _Answer(JSONResponse({"pong": True}), "ping", "pong")
        if isinstance(parsed, OtherEvent):
            return self._ignored(parsed.event, f"event:{parsed.event}", "")
        detail = (
            f" action={parsed.action} repo={parsed.repo_full_name} job={parsed.job_id}"
            f" attempt={parsed.run_attempt}"
        )
        offered = self._pipeline.offer(parsed, received_at=started)
        if isinstance(offered, Ignore):
            return self._ignored(parsed.event, offered.reason, detail)
        name = offered.start.runner_name
        detail += f" runner={name} pool={offered.start.pool.name}"
        if offered.admission is Admission.FULL:
            response = _error(503, "dispatch queue is full; redeliver this delivery later")
            return _Answer(response, parsed.event, "queue_full", detail)
        key = offered.admission.value
        return _Answer(JSONResponse({key: name}, 202), parsed.event, key, detail)

    def _ignored(self, event: str, reason: str, detail: str) -> _Answer:
        """2xx with the reason, counted by reason."""
        self._metrics.ignored.labels(reason=self._metrics.bounded("reason", reason)).inc()
        response = JSONResponse({"ignored": reason}, 202)
        return _Answer(response, event, "ignored", f"{detail} reason={reason}")

    async def _read_body(self, request: Request) -> bytes:
        """The body, refused with BodyTooLarge as soon as it passes the cap (never read whole)."""
        cap = self._settings.server.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                raise MalformedDelivery("Content-Length is not a number")
            if int(declared) > cap:
                raise BodyTooLarge(f"body of {int(declared)} bytes is over the {cap}-byte limit")
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > cap:
                raise BodyTooLarge(f"body is over the {cap}-byte limit")
            chunks.append(chunk)
        return b"".join(chunks)

    async def healthz(self, request: Request) -> Response:
        """Liveness: the process answers."""
        return JSONResponse({"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        """Readiness: Nomad and GitHub answer and NOMAD_TOKEN lacks nothing rod calls; one probe
        per few seconds, however often asked."""
        async with self._probing:  # callers meanwhile wait for this probe's answer
            now = self._pipeline.monotonic()
            if self._ready is None or now - self._ready[0] >= READY_CACHE_SECONDS:
                nomad, github, token = await asyncio.gather(
                    _probe(self._nomad.health()), _probe(self._github.check()), self._token()
                )
                body = {"nomad": nomad, "github": github, "nomad_token": token.line}
                ready = nomad == "ok" and github == "ok" and token.ready
                self._ready = (now, body, 200 if ready else 503)
            _, body, status = self._ready
            return JSONResponse(body, status_code=status)

    async def _token(self) -> TokenCheck:
        settings = self._settings
        check = check_token(self._nomad, needs_of(settings), settings.nomad_token)
        try:
            return await asyncio.wait_for(check, PROBE_TIMEOUT)
        except TimeoutError:
            return TokenCheck(TokenStatus.UNKNOWN, f"no answer within {PROBE_TIMEOUT:.0f}s")

    async def metrics(self, request: Request) -> Response:
        """Prometheus text exposition of this instance's registry."""
        return Response(self._metrics.render(), media_type=CONTENT_TYPE)


def _loggable(delivery_id: str) -> str:
    """A delivery id fit for a log line: as sent when it looks like one, else masked."""
    if _DELIVERY_ID.fullmatch(delivery_id):
        return delivery_id
    return "unreadable:" + re.sub(r"[^0-9A-Za-z-]", "?", delivery_id[:64])


async def _probe(check: Awaitable[None]) -> str:
    """The word ok, or one line saying why not."""
    try:
        await asyncio.wait_for(check, PROBE_TIMEOUT)
    except UpstreamError as error:
        return str(error)
    except TimeoutError:
        return f"no answer within {PROBE_TIMEOUT:.0f}s"
    return "ok"
