"""`rod sim runner`: the fake Actions runner a Nomad task runs; kept light, spawned per runner."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Mapping
from pathlib import Path

import click
import httpx

from simulator.runner.client import USER_AGENT, ActionsClient
from simulator.runner.errors import RunnerError, Terminated
from simulator.runner.launch import (
    Launch,
    credential_path,
    launch_from,
    payload_path,
    read_payload,
    take_credential,
)
from simulator.runner.loop import RunOptions, run

PREFIX = "rod sim runner"


def _log(line: str) -> None:
    click.echo(f"{PREFIX}: {line}")


def _launch(jitconfig: str | None, payload: Path | None, env: Mapping[str, str]) -> Launch:
    if jitconfig:
        return launch_from(jitconfig=jitconfig, payload_text=None, env=env)
    credential = take_credential(credential_path(env))
    # Only registration needs the payload (its url); a credential never comes from it.
    text = (
        read_payload(payload_path(env, payload)) if credential.get("registration_token") else None
    )
    return launch_from(jitconfig=None, payload_text=text, env=env, credential=credential)


async def _main(launch: Launch, options: RunOptions) -> None:
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, task.cancel)
    headers = {"User-Agent": USER_AGENT}
    async with httpx.AsyncClient(timeout=10.0, trust_env=False, headers=headers) as http:
        await run(launch, lambda base: ActionsClient(http, base), options, _log)


@click.command()
@click.option(
    "--jitconfig",
    envvar="ACTIONS_RUNNER_INPUT_JITCONFIG",
    show_envvar=True,
    help="Encoded JIT config, as for run.sh. Default: jit_config from "
    "$NOMAD_SECRETS_DIR/credential (the runner job's template renders it).",
)
@click.option(
    "--payload",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Dispatch payload file, for registration's url. Default: $NOMAD_TASK_DIR/payload.json.",
)
@click.option(
    "--poll-wait",
    type=click.FloatRange(0.0, 60.0),
    default=10.0,
    show_default=True,
    help="Seconds each long poll for a job may wait.",
)
@click.option(
    "--give-up",
    type=click.FloatRange(min=0.0),
    default=300.0,
    show_default=True,
    help="Seconds to wait for a job before exiting with code 5.",
)
@click.option(
    "--actions-url",
    help="Runner API base for registration-token mode. Default: the payload url's origin "
    "+ /_actions.",
)
def command(
    jitconfig: str | None,
    payload: Path | None,
    poll_wait: float,
    give_up: float,
    actions_url: str | None,
) -> None:
    """Take one job from the GitHub emulator, run it for its scripted time, report it, exit.

    Exit codes: 0 job done, 2 bad input, 3 credential rejected, 4 server unavailable,
    5 no job offered, 143 stopped by SIGTERM/SIGINT.
    """
    options = RunOptions(poll_wait=poll_wait, give_up=give_up, actions_url=actions_url)
    try:
        asyncio.run(_main(_launch(jitconfig, payload, os.environ), options))
    except asyncio.CancelledError:
        _fail(Terminated("stopped by signal"))
    except RunnerError as exc:
        _fail(exc)
    _log("done")


def _fail(exc: RunnerError) -> None:
    click.echo(f"{PREFIX}: error: {exc}", err=True)
    raise SystemExit(exc.exit_code)
