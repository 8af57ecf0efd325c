"""`rod sim nomad`: serve the Nomad emulator until interrupted."""

from __future__ import annotations

import os
import signal
import threading

import click

from runners_on_demand.serve import can_listen
from simulator.nomad.emulator import NomadEmulator


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
@click.option(
    "--cpu", default=4000, show_default=True, type=click.IntRange(1), help="Node CPU in MHz."
)
@click.option(
    "--memory", default=8192, show_default=True, type=click.IntRange(1), help="Node memory in MiB."
)
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
    problem = can_listen(host, port)
    if problem:
        raise click.UsageError(f"cannot listen on {host}:{port} (--host/--port): {problem}")
    emulator = NomadEmulator(
        driver=driver,
        acl_token=acl_token or None,
        acl_enabled=acl_enabled,
        cpu=cpu,
        memory=memory,
        host=host,
        port=port,
        base_env=os.environ,
    ).start()
    # emulator.url: with --port 0, the port it was given
    click.echo(f"nomad emulator on {emulator.url} (driver {driver})", err=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
