"""`rod serve`: check the settings, then run the dispatcher under uvicorn until SIGTERM.

The HTTP edge's limits (limits.py) apply to whichever parser uvicorn uses, h11 or httptools.
"""

from __future__ import annotations

import logging
import os
import signal
import ssl
import sys
from types import FrameType
from typing import NoReturn

import click
import uvicorn

from runners_on_demand.config import Settings
from runners_on_demand.errors import ConfigError
from runners_on_demand.limits import EdgeLimits, parser_protocol, protocol_class
from runners_on_demand.wiring import LOG_FORMAT, read_settings

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


def _fail(problems: list[str]) -> NoReturn:
    """One line per problem on stderr, exit status 2, no traceback."""
    for problem in problems:
        click.echo(f"rod serve: {problem}", err=True)
    sys.exit(2)


def _settings(config_path: str | None) -> Settings:
    try:
        return read_settings(config_path, os.environ)
    except ConfigError as error:
        _fail(error.problems)


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    """After uvicorn's graceful shutdown it re-raises SIGTERM: exit 0, as a drained service."""
    raise SystemExit(0)


@click.command("serve")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="TOML file with pools, trigger label, allowlist, limits, extra Nomad headers.",
)
@click.option("--host", default=None, help="Address to listen on (default: [server] host).")
@click.option("--port", type=int, default=None, help="Port to listen on (default: [server] port).")
@click.option("--log-level", type=click.Choice(LOG_LEVELS), default="info", show_default=True)
def command(config_path: str | None, host: str | None, port: int | None, log_level: str) -> None:
    """Receive signed workflow_job webhooks and dispatch one ephemeral runner per queued job."""
    settings = _settings(config_path)
    logging.basicConfig(level=log_level.upper(), format=LOG_FORMAT, stream=sys.stderr)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # we log each call's outcome ourselves

    from runners_on_demand.app import create_app

    try:
        app = create_app(settings)
    except ConfigError as error:
        _fail(error.problems)
    except (OSError, ssl.SSLError) as error:  # NOMAD_CACERT / client certificate unusable
        _fail([f"cannot set up TLS for Nomad: {error.strerror or error}"])
    signal.signal(signal.SIGTERM, _exit_cleanly)
    logging.getLogger(__name__).info(
        "rod serve: GitHub %s (%s), Nomad %s namespace %s, pools %s",
        settings.github_api_url,
        settings.github_auth,
        settings.nomad_addr,
        settings.nomad_namespace,
        ", ".join(f"{p.name}->{p.nomad_job}" for p in settings.policy.pools),
    )
    server = settings.server
    try:
        parser = parser_protocol(server.http)
    except ImportError:
        _fail([f'[server] http = "{server.http}" but that parser is not installed'])
    limits = EdgeLimits(
        server.header_timeout_seconds, server.max_header_bytes, server.max_connections
    )
    uvicorn.run(
        app,
        host=host or server.host,
        port=server.port if port is None else port,
        http=protocol_class(parser, limits),
        timeout_keep_alive=server.keepalive_timeout_seconds,
        h11_max_incomplete_event_size=server.max_header_bytes,  # h11's own cap, the same
        log_config=None,
        log_level=log_level,
        access_log=False,
        lifespan="on",
        proxy_headers=False,
    )
