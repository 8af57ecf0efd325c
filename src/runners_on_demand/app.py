"""The dispatcher's HTTP app: `/webhook` (webhook_edge.py), `/healthz`, `/readyz`, `/metrics`.

HTTP status codes are chosen at this edge and only here, from the errors' `status_hint`. Every
error body is one line of JSON, `{"error": "..."}`; nothing ever answers with a stack trace.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from runners_on_demand.backoff import Backoff
from runners_on_demand.config import Settings
from runners_on_demand.dispatch_process import DispatchProcess
from runners_on_demand.errors import ConfigError
from runners_on_demand.http_answers import (
    ERROR_HANDLERS,
    PROBE_TIMEOUT,
    READY_CACHE_SECONDS,
    Reused,
    probe,
)
from runners_on_demand.intake_first import IntakeFirst
from runners_on_demand.metrics import CONTENT_TYPE, Metrics
from runners_on_demand.pipeline import Pipeline
from runners_on_demand.ports import GitHubPort, NomadPort
from runners_on_demand.runner_job_check import runner_jobs_line
from runners_on_demand.runner_jobs import runner_job_ids
from runners_on_demand.token_check import TokenCheck, TokenStatus, check_token, needs_of
from runners_on_demand.webhook_edge import WebhookEdge
from runners_on_demand.wiring import build, clients


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
    routes = _Routes(settings, pipeline, metrics, parts.github, parts.nomad)
    webhook = WebhookEdge(settings, pipeline, metrics, intake)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if carrier is not None:
            await carrier.start()
        # before any webhook: a runner job Nomad cannot dispatch from costs no runner
        await pipeline.check_runner_jobs(runner_job_ids(settings.policy), PROBE_TIMEOUT)
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
            webhook.quiet_log.summarise()  # the refusals counted but not yet logged
            if carrier is not None:
                await carrier.close()
            await github_client.aclose()
            await nomad_client.aclose()

    app = _App(
        webhook,
        routes=[
            Route("/webhook", webhook, methods=["POST"]),  # other methods: 405
            Route("/healthz", routes.healthz, methods=["GET"]),
            Route("/readyz", routes.readyz, methods=["GET"]),
            Route("/metrics", routes.metrics, methods=["GET"]),
        ],
        exception_handlers=dict(ERROR_HANDLERS),
        lifespan=lifespan,
    )
    # GitHub never follows a redirect, so `/webhook/` is a 404 rather than Starlette's 307.
    app.router.redirect_slashes = False
    app.state.pipeline = pipeline
    app.state.metrics = metrics
    app.state.reconciler = reconciler
    app.state.carrier = carrier
    return app


class _App(Starlette):
    """Starlette, except that `POST /webhook`, which every delivery is, skips its routing and
    goes straight to the webhook edge (webhook_edge.py)."""

    def __init__(self, webhook: WebhookEdge, **starlette: Any) -> None:
        super().__init__(**starlette)
        self._webhook = webhook

    @property
    def webhook_edge(self) -> WebhookEdge:
        """`POST /webhook`'s app, which `rod serve`'s protocol also answers with
        (whole_delivery.py)."""
        return self._webhook

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/webhook" and scope["method"] == "POST":
            await self._webhook(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


class _Routes:
    """The handlers of `/healthz`, `/readyz` and `/metrics`, sharing the two ports."""

    def __init__(
        self,
        settings: Settings,
        pipeline: Pipeline,
        metrics: Metrics,
        github: GitHubPort,
        nomad: NomadPort,
    ) -> None:
        self._settings = settings
        self._pipeline = pipeline
        self._metrics = metrics
        self._github = github
        self._nomad = nomad
        # each probe costs one GitHub call and a few Nomad ones (health, token, runner jobs)
        self._ready = Reused(self._probe, READY_CACHE_SECONDS, pipeline.monotonic)

    async def healthz(self, request: Request) -> Response:
        """Liveness: the process answers."""
        return JSONResponse({"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        """Readiness: Nomad and GitHub answer, NOMAD_TOKEN lacks nothing rod calls and every
        runner job can be dispatched; one probe per few seconds, however often asked."""
        body, status = await self._ready()
        return JSONResponse(body, status_code=status)

    async def _probe(self) -> tuple[dict[str, Any], int]:
        nomad, github, token, jobs = await asyncio.gather(
            probe(self._nomad.health()), probe(self._github.check()), self._token(), self._jobs()
        )
        body = {"nomad": nomad, "github": github, "nomad_token": token.line, "runner_jobs": jobs}
        ready = nomad == "ok" and github == "ok" and token.ready and jobs == "ok"
        return body, 200 if ready else 503

    async def _jobs(self) -> str:
        jobs, namespace = runner_job_ids(self._settings.policy), self._settings.nomad_namespace
        held = self._pipeline.held_for_runner_jobs()
        return await runner_jobs_line(self._nomad, jobs, namespace, PROBE_TIMEOUT, held)

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
