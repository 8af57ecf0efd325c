"""`rod serve`: check the settings, then run the dispatcher under uvicorn until SIGTERM.

The HTTP edge's limits (limits.py) apply to whichever parser uvicorn uses, h11 or httptools.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable
from types import FrameType
from typing import NoReturn

import click
import uvicorn
from starlette.applications import Starlette

from runners_on_demand.config import Settings
from runners_on_demand.errors import ConfigError, UpstreamError
from runners_on_demand.limits import EdgeLimits, parser_protocol, protocol_class
from runners_on_demand.runner_job_check import runner_job_problems
from runners_on_demand.runner_jobs import runner_job_ids
from runners_on_demand.server_settings import ServerSettings
from runners_on_demand.token_check import TokenCheck, check_token, needs_of
from runners_on_demand.whole_delivery import whole_deliveries
from runners_on_demand.wiring import (
    LOG_FORMAT,
    clients,
    nomad_port,
    read_settings,
    with_runner_groups,
)

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
PORT = click.IntRange(0, 65535)  # as [server] port and [listen] port are bounded


def fail(problems: list[str], command: str = "serve") -> NoReturn:
    """One line per problem on stderr, exit status 2, no traceback (also for `rod listen`)."""
    for problem in problems:
        click.echo(f"rod {command}: {problem}", err=True)
    sys.exit(2)


def _settings(config_path: str | None) -> Settings:
    try:
        return asyncio.run(with_runner_groups(read_settings(config_path, os.environ)))
    except ConfigError as error:
        fail(error.problems)
    except UpstreamError as error:
        fail([f"cannot read the runner groups from GitHub: {error}"])


async def check_nomad_token(settings: Settings) -> TokenCheck:
    """What NOMAD_TOKEN lacks, asked once before serving (`/readyz` asks again each time).

    `rod listen` asks the same: it dispatches the same runner job.
    """
    github_client, nomad_client = clients(settings)
    async with github_client, nomad_client:
        nomad = nomad_port(settings, nomad_client)
        return await check_token(nomad, needs_of(settings), settings.nomad_token)


async def check_runner_jobs(settings: Settings, jobs: list[str] | None = None) -> list[str]:
    """Why a runner job (`jobs`, else every pool's) cannot be dispatched, one line each, asked
    once before serving.

    Not a reason to stop: the runner job may be registered after rod; `/readyz` asks again.
    """
    github_client, nomad_client = clients(settings)
    async with github_client, nomad_client:
        nomad = nomad_port(settings, nomad_client)
        wanted = runner_job_ids(settings.policy) if jobs is None else jobs
        return await runner_job_problems(nomad, wanted, settings.nomad_namespace)


def server_stack(http: str = "auto") -> tuple[str, str]:
    """uvicorn's event loop and HTTP parser: uvloop and (for `http = "auto"`) httptools where
    installed (the package depends on them where wheels exist), else asyncio and h11."""
    parser = _first_importable("httptools", "h11") if http == "auto" else http
    return _first_importable("uvloop", "asyncio"), parser


def _first_importable(fast: str, fallback: str) -> str:
    try:
        importlib.import_module(fast)
    except ImportError:
        return fallback
    return fast


def _exits_with(status: Callable[[], int]) -> Callable[[int, FrameType | None], None]:
    """After uvicorn's graceful shutdown it re-raises SIGTERM: exit with `status()` (0, as a
    drained service, unless something failed)."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(status())

    return handler


@click.command("serve")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="TOML file with pools, trigger label, allowlist, limits, extra Nomad headers.",
)
@click.option("--host", default=None, help="Address to listen on (default: [server] host).")
@click.option("--port", type=PORT, default=None, help="Port to listen on (default: [server] port).")
@click.option("--log-level", type=click.Choice(LOG_LEVELS), default="info", show_default=True)
def command(config_path: str | None, host: str | None, port: int | None, log_level: str) -> None:
    """Receive signed workflow_job webhooks and dispatch one ephemeral runner per queued job."""
    logging.basicConfig(level=log_level.upper(), format=LOG_FORMAT, stream=sys.stderr)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # we log each call's outcome ourselves
    settings = _settings(config_path)

    from runners_on_demand.app import create_app

    try:
        app = create_app(settings, dispatch_process=settings.server.dispatch_process)
    except ConfigError as error:
        fail(error.problems)
    token = asyncio.run(check_nomad_token(settings))
    if not token.usable:
        fail([token.line])
    log = logging.getLogger(__name__)
    log.log(logging.INFO if token.ready else logging.WARNING, "rod serve: %s", token.line)
    for problem in asyncio.run(check_runner_jobs(settings)):
        log.warning("rod serve: %s", problem)
    log.info(
        "rod serve: GitHub %s (%s), Nomad %s namespace %s, pools %s",
        settings.github_api_url,
        settings.github_auth,
        settings.nomad_addr,
        settings.nomad_namespace,
        ", ".join(f"{p.name}->{p.nomad_job}" for p in settings.policy.pools),
    )
    if settings.webhook_secret_previous:
        log.info(
            "rod serve: deliveries signed with GITHUB_WEBHOOK_SECRET_PREVIOUS are accepted too; "
            "unset it once rod_webhook_previous_secret_total stops rising"
        )
    run_until_sigterm(
        app,
        host=host or settings.server.host,
        port=settings.server.port if port is None else port,
        log_level=log_level,
        edge=settings.server,
        exit_status=lambda: 1 if app.state.carrier and app.state.carrier.lost else 0,
    )


def _protocol(app: Starlette, protocol: type[asyncio.Protocol]) -> type[asyncio.Protocol]:
    """`protocol`, answering whole deliveries itself where `app` has a webhook edge."""
    edge = getattr(app, "webhook_edge", None)
    return protocol if edge is None else whole_deliveries(protocol, edge)


def can_listen(host: str, port: int) -> str | None:
    """Why `host:port` cannot be listened on (in use, not an address here), or None.

    Asked before the app starts: uvicorn binds only after the app's startup, which already
    dispatches (`rod serve`'s reconciler) or makes a scale set (`rod listen`).
    """
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        for family, kind, proto, _, address in addresses:
            with socket.socket(family, kind, proto) as probe:
                # as asyncio's create_server: a port in TIME_WAIT is free, a listened one is not
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind(address)
    except OSError as error:
        return error.strerror or str(error)
    return None


def run_until_sigterm(
    app: Starlette,
    *,
    host: str,
    port: int,
    log_level: str,
    edge: ServerSettings | None = None,
    stack: tuple[str, str] | None = None,
    exit_status: Callable[[], int] = lambda: 0,
    command: str = "serve",
    before_serving: Callable[[], None] = lambda: None,
) -> None:
    """Serve `app` under uvicorn with `edge`'s limits (limits.py); SIGTERM drains it (its
    lifespan), then the process exits with `exit_status()`.

    `before_serving` runs once the port is known to be free (`rod listen` sets its scale set up).

    `stack` is uvicorn's event loop and HTTP parser, `server_stack(edge.http)` unless given.
    """
    reason = can_listen(host, port)
    if reason is not None:
        table = "[listen]" if command == "listen" else "[server]"
        fail(
            [f"cannot listen on {host}:{port} (--host/--port, {table} host/port): {reason}"],
            command,
        )
    before_serving()
    edge = edge or ServerSettings()
    loop, http = stack or server_stack(edge.http)
    try:
        parser = parser_protocol(http)
    except ImportError:
        fail([f'[server] http = "{http}" but that parser is not installed'])
    limits = EdgeLimits(edge.header_timeout_seconds, edge.max_header_bytes, edge.max_connections)
    logging.getLogger(__name__).info("uvicorn on %s + %s", loop, http)
    signal.signal(signal.SIGTERM, _exits_with(exit_status))
    uvicorn.run(
        app,
        host=host,
        port=port,
        loop=loop,
        http=_protocol(app, protocol_class(parser, limits)),
        timeout_keep_alive=edge.keepalive_timeout_seconds,
        h11_max_incomplete_event_size=edge.max_header_bytes,  # h11's own cap, the same
        log_config=None,
        log_level=log_level,
        access_log=False,
        lifespan="on",
        proxy_headers=False,
    )
