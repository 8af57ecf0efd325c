"""`rod listen` as an ASGI app: the listener and the pipeline in its lifespan, and its health.

There is no webhook here and nothing to expose: `/healthz` (the listener runs), `/readyz` (it
holds a session, the message queue answers, Nomad answers) and `/metrics` are for the operator
and for Nomad's checks, on a local port. ARC's listener had no such probe (ARC #3005, #3204).

Shutdown (SIGTERM): polling stops (a message in hand is finished), the pipeline drains its queue
within `[server] shutdown_grace_seconds`, then the session is deleted, so the next listener does
not meet a 409 ([A] cmd/ghalistener/main.go). A listener that GitHub refuses for good (start.py)
ends; `on_refused` then stops the process the same way, and `rod listen` exits 2.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from runners_on_demand.backoff import Retrier
from runners_on_demand.carrier import LocalCarrier
from runners_on_demand.config import Settings
from runners_on_demand.errors import ConfigError
from runners_on_demand.http_answers import (
    ERROR_HANDLERS,
    PROBE_TIMEOUT,
    READY_CACHE_SECONDS,
    Reused,
    probe,
)
from runners_on_demand.listen.credentials import ScaleSetCredentials
from runners_on_demand.listen.loop import Listener
from runners_on_demand.listen.metrics import ListenMetrics
from runners_on_demand.listen.scaling import Scaler
from runners_on_demand.listen.settings import listen_pool, listen_problems
from runners_on_demand.listen.start import scale_set_client
from runners_on_demand.metrics import CONTENT_TYPE, Metrics
from runners_on_demand.pipeline import Pipeline
from runners_on_demand.runner_job_check import job_check, runner_jobs_line
from runners_on_demand.wiring import clients, nomad_port

__all__ = ["create_app"]

log = logging.getLogger(__name__)


def create_app(
    settings: Settings,
    *,
    github_transport: httpx.AsyncBaseTransport | None = None,
    nomad_transport: httpx.AsyncBaseTransport | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    owner: str | None = None,
    on_refused: Callable[[], None] = lambda: None,
) -> Starlette:
    """The listener as an ASGI app; tests plug GitHub and Nomad in through the transports.

    `on_refused` is called when GitHub refuses the set-up for good (`rod listen`: SIGTERM itself,
    so that it drains and exits 2)."""
    listen = settings.listen
    problems = listen_problems(listen, settings.policy)
    pool = listen_pool(listen, settings.policy)
    if problems or pool is None:
        raise ConfigError(problems)
    github_client, nomad_client = clients(
        settings, github_transport=github_transport, nomad_transport=nomad_transport
    )
    metrics = Metrics()
    listen_metrics = ListenMetrics(metrics)
    nomad = nomad_port(settings, nomad_client)
    client = scale_set_client(
        settings,
        github_client,
        poll_timeout=listen.poll_timeout_seconds,
        clock=clock,
        sleep=sleep,
        on_retry=lambda reason: listen_metrics.retries.labels(reason=reason).inc(),
    )
    credentials = ScaleSetCredentials(client, nomad)
    retrier = Retrier(sleep=sleep)
    pipeline = Pipeline(
        LocalCarrier(credentials, nomad, retrier),
        policy=settings.policy,
        settings=settings.server,
        metrics=metrics,
        retrier=retrier,
        check_job=job_check(nomad, settings.nomad_namespace),
    )
    scaler = Scaler(
        client, nomad, pipeline, settings=listen, pool=pool, metrics=listen_metrics, clock=clock
    )
    listener = Listener(
        client,
        scaler,
        credentials,
        settings=listen,
        metrics=listen_metrics,
        owner=owner or socket.gethostname(),
        clock=clock,
        sleep=sleep,
    )
    task: asyncio.Task[None] | None = None
    runner_job = pool.nomad_job

    async def nomad_probe() -> dict[str, str]:
        """Nomad answers, and the pool's runner job can be dispatched."""
        held = pipeline.held_for_runner_jobs()
        namespace = settings.nomad_namespace
        job = runner_jobs_line(nomad, [runner_job], namespace, PROBE_TIMEOUT, held)
        health, jobs = await asyncio.gather(probe(nomad.health()), job)
        return {"nomad": health, "runner_jobs": jobs}

    # /readyz is unauthenticated: Nomad is asked once per few seconds, however often it is asked
    nomad_ready = Reused(nomad_probe, READY_CACHE_SECONDS, pipeline.monotonic)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        nonlocal task
        await pipeline.check_runner_jobs([runner_job], PROBE_TIMEOUT)
        pipeline.start()
        task = asyncio.create_task(listener.run(), name="rod-listener")
        task.add_done_callback(lambda ended: _report_end(ended, listener, on_refused))
        try:
            yield
        finally:
            listener.stop()
            grace = settings.server.shutdown_grace_seconds
            with contextlib.suppress(TimeoutError, Exception):
                await asyncio.wait_for(task, grace)
            await pipeline.stop()
            await listener.close()
            await github_client.aclose()
            await nomad_client.aclose()

    async def healthz(request: Request) -> Response:
        """Liveness: the listener's loop runs."""
        if task is not None and task.done():
            return JSONResponse({"status": "the listener stopped; see its log"}, 503)
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        """Readiness: a session, an answering message queue, Nomad, and the pool's runner job."""
        body: dict[str, Any] = {**listener.health(), **await nomad_ready()}
        ready = all(value == "ok" for value in body.values())
        return JSONResponse(body, status_code=200 if ready else 503)

    async def metrics_route(request: Request) -> Response:
        """Prometheus text exposition: the pipeline's series and the listener's."""
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    app = Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics_route, methods=["GET"]),
        ],
        exception_handlers=dict(ERROR_HANDLERS),
        lifespan=lifespan,
    )
    app.state.listener = listener
    app.state.pipeline = pipeline
    app.state.metrics = metrics
    return app


def _report_end(
    task: asyncio.Task[None], listener: Listener, on_refused: Callable[[], None]
) -> None:
    """A listener that GitHub refused stops the process; one that ends otherwise by itself is
    a bug: say so (/healthz turns 503)."""
    if not task.cancelled() and task.exception() is not None:
        log.error("listener: stopped by an unexpected error", exc_info=task.exception())
    elif listener.refused is not None:
        on_refused()
