"""The fake runner's one life: (register,) connect, take one job, run it, report it, disconnect.

Cancellation of the running task (SIGTERM/SIGINT, wired by the CLI) is the stop signal: a job in
progress is reported `cancelled`, the session is closed, and `Terminated` is raised.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from simulator.runner.client import ActionsClient, Job, Session, actions_base_for
from simulator.runner.errors import CredentialRejected, NoJobOffered, RunnerError, Terminated
from simulator.runner.jitconfig import JitSettings, decode_jit_config
from simulator.runner.launch import JitLaunch, Launch

Log = Callable[[str], None]

# Calls made while stopping must not outlive Nomad's kill_timeout (30 s in the job spec).
CLEANUP_TIMEOUT = 5.0


@dataclass(frozen=True)
class RunOptions:
    """How long to long-poll per request, and when to stop waiting for a job at all."""

    poll_wait: float = 10.0
    give_up: float = 300.0
    actions_url: str | None = None  # registration mode: overrides the URL derived from `url`


async def resolve(
    launch: Launch, client_for: Callable[[str], ActionsClient], options: RunOptions, log: Log
) -> JitSettings:
    """The JIT settings to run with, registering first in registration-token mode."""
    if isinstance(launch, JitLaunch):
        return decode_jit_config(launch.encoded)
    base = options.actions_url or actions_base_for(launch.url)
    group = f" in runner group {launch.runner_group}" if launch.runner_group else ""
    log(f"registering runner {launch.name} with labels {','.join(launch.labels)}{group} at {base}")
    encoded = await client_for(base).register(
        token=launch.token, name=launch.name, labels=launch.labels, runner_group=launch.runner_group
    )
    return decode_jit_config(encoded)


async def run(
    launch: Launch, client_for: Callable[[str], ActionsClient], options: RunOptions, log: Log
) -> None:
    """Run once; return on success, raise a `RunnerError` otherwise."""
    settings = await resolve(launch, client_for, options, log)
    client = client_for(settings.server_url)
    log(f"runner {settings.agent_name} (id {settings.agent_id}) connecting to {client.base_url}")
    session = await client.create_session(settings.secret)
    log(f"session {session.session_id} open; runner {session.runner_id} online")
    try:
        job = await _wait_for_job(client, settings.secret, session, options, log)
        await _run_job(client, settings.secret, job, log)
    except asyncio.CancelledError:
        await _close(client, settings.secret, session, log)
        raise Terminated("stopped by signal") from None
    except CredentialRejected:
        raise  # the server no longer knows this runner: nothing to close
    except RunnerError:
        await _close(client, settings.secret, session, log)
        raise
    await client.delete_session(settings.secret, session.session_id)
    log(f"session {session.session_id} closed; runner {session.runner_id} offline")


async def _wait_for_job(
    client: ActionsClient, secret: str, session: Session, options: RunOptions, log: Log
) -> Job:
    deadline = time.monotonic() + options.give_up
    log(f"waiting up to {options.give_up:g}s for a job")
    while (remaining := deadline - time.monotonic()) > 0:
        job = await client.get_job(
            secret, session.session_id, wait=min(options.poll_wait, remaining)
        )
        if job is not None:
            return job
    raise NoJobOffered(f"no job offered within {options.give_up:g}s")


async def _run_job(client: ActionsClient, secret: str, job: Job, log: Log) -> None:
    log(f"running job {job.job_id} ({job.name}) of run {job.run_id} for {job.duration_seconds:g}s")
    try:
        await asyncio.sleep(job.duration_seconds)
    except asyncio.CancelledError:
        log(f"stopping: reporting job {job.job_id} as cancelled")
        await _quietly(
            client.complete_job(secret, job.job_id, "cancelled", timeout=CLEANUP_TIMEOUT), log
        )
        raise
    await client.complete_job(secret, job.job_id, job.conclusion)
    log(f"job {job.job_id} completed: {job.conclusion}")


async def _close(client: ActionsClient, secret: str, session: Session, log: Log) -> None:
    closing = client.delete_session(secret, session.session_id, timeout=CLEANUP_TIMEOUT)
    if await _quietly(closing, log):
        log(f"session {session.session_id} closed")


async def _quietly(call: Awaitable[None], log: Log) -> bool:
    """Await a best-effort cleanup call; a failure is logged, not raised."""
    try:
        await call
    except RunnerError as exc:
        log(f"cleanup failed: {exc}")
        return False
    return True
