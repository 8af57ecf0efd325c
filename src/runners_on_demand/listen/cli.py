"""`rod listen`: check the settings, then run the listener (and its health port) until SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

import click

from runners_on_demand.config import Settings
from runners_on_demand.errors import ConfigError
from runners_on_demand.listen.settings import listen_pool
from runners_on_demand.serve import (
    LOG_LEVELS,
    PORT,
    check_nomad_token,
    check_runner_jobs,
    fail,
    run_until_sigterm,
)
from runners_on_demand.wiring import LOG_FORMAT, read_settings


@click.command("listen")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="TOML file with the [listen] table (scope URL, scale set, labels, min and max runners).",
)
@click.option("--host", default=None, help="Address of /healthz, /readyz, /metrics.")
@click.option("--port", type=PORT, default=None, help="Their port (default: [listen] port).")
@click.option("--log-level", type=click.Choice(LOG_LEVELS), default="info", show_default=True)
def command(config_path: str | None, host: str | None, port: int | None, log_level: str) -> None:
    """Take jobs from a runner scale set (no inbound endpoint) and dispatch their runners."""
    try:
        settings: Settings = read_settings(config_path, os.environ, webhook=False)
    except ConfigError as error:
        fail(error.problems, "listen")
    logging.basicConfig(level=log_level.upper(), format=LOG_FORMAT, stream=sys.stderr)
    for chatty in ("httpx", "httpcore"):  # request lines: the queue URL may carry a session id
        logging.getLogger(chatty).setLevel(logging.WARNING)

    from runners_on_demand.listen.service import create_app
    from runners_on_demand.listen.start import check_start

    try:
        app = create_app(settings, on_refused=lambda: os.kill(os.getpid(), signal.SIGTERM))
    except ConfigError as error:
        fail(error.problems, "listen")
    token = asyncio.run(check_nomad_token(settings))
    if not token.usable:
        fail([token.line], "listen")
    log = logging.getLogger(__name__)
    log.log(logging.INFO if token.ready else logging.WARNING, "rod listen: %s", token.line)
    listen = settings.listen
    pool = listen_pool(listen, settings.policy)  # create_app refused a pool that is not there
    for problem in asyncio.run(check_runner_jobs(settings, [pool.nomad_job] if pool else None)):
        log.warning("rod listen: %s", problem)
    log.info(
        "rod listen: %s scale set %s (group %s, labels %s, %d-%d runners), Nomad %s, GitHub %s",
        listen.url,
        listen.scale_set,
        listen.runner_group,
        ",".join(listen.scale_set_labels),
        listen.min_runners,
        listen.max_runners,
        settings.nomad_addr,
        settings.github_auth,
    )

    def set_up() -> None:
        """Refused at start: one line, exit status 2, and no scale set made (start.py)."""
        refused = asyncio.run(check_start(settings))
        if refused is not None:
            fail([refused], "listen")

    run_until_sigterm(
        app,
        host=host or listen.host,
        port=listen.port if port is None else port,
        log_level=log_level,
        command="listen",
        before_serving=set_up,
        exit_status=lambda: 0 if app.state.listener.refused is None else 2,
    )
