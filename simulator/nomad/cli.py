"""`rod sim nomad`: serve the Nomad emulator until interrupted."""

from __future__ import annotations

import os

import click
import uvicorn

from simulator.nomad.drivers import make_driver
from simulator.nomad.models import NomadBackend
from simulator.nomad.routes import create_app


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option(
    "--port",
    default=4646,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port (Nomad's is 4646).",
)
@click.option(
    "--acl-enabled",
    is_flag=True,
    help="Enforce ACLs, as `nomad agent -acl-enabled`: bootstrap with POST /v1/acl/bootstrap.",
)
@click.option(
    "--acl-token",
    default=None,
    # Deliberately not read from NOMAD_TOKEN: a client token meant for a real cluster must not
    # silently switch ACLs on here.
    help="Enforce ACLs with this string as an already bootstrapped management token.",
)
@click.option(
    "--driver",
    type=click.Choice(["process", "inprocess"]),
    default="process",
    show_default=True,
    help="process: run config.command as a child process; inprocess: tasks complete at once.",
)
@click.option("--cpu", default=4000, show_default=True, type=int, help="Node CPU in MHz.")
@click.option("--memory", default=8192, show_default=True, type=int, help="Node memory in MiB.")
def command(
    host: str,
    port: int,
    acl_enabled: bool,
    acl_token: str | None,
    driver: str,
    cpu: int,
    memory: int,
) -> None:
    """Run the Nomad emulator (HTTP API on /v1, control plane on /_sim)."""
    backend = NomadBackend(
        driver=make_driver(driver),
        cpu=cpu,
        memory=memory,
        base_env=os.environ,
        acl_enabled=acl_enabled,
        acl_token=acl_token or None,
    )
    app = create_app(backend)
    click.echo(f"nomad emulator on http://{host}:{port} (driver {driver})", err=True)
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        backend.shutdown()
