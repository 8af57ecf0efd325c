"""What the dispatchers will still do: the dispatches in hand, and their reconciler's next plan.

A "no runner" check that looks once, right after the dispatcher answered, can pass before a
runner shows up. Two things can still make one: a dispatch a dispatcher accepted and has not
carried out, and its reconciler's next tick (every 60 s by default, so never inside a scenario).
The first is waited out (`await_dispatchers_idle`); the second is asked for: the plan
`rod reconcile --dry-run` prints, made by the same code from the dispatcher's own config against
the same GitHub and Nomad (`expect_no_dispatch_planned`). Its calls carry the harness's
User-Agent, so the living documentation counts them as the suite's checks, not as `rod serve`'s.

The same holds for any end state a Then checks ("zero runners", "one runner per job"): seen once,
it may be undone a moment later. `await_settled` waits until nothing more is coming, so that a
look after it shows what stays.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx

from runners_on_demand.config import Settings
from runners_on_demand.metrics import Metrics
from runners_on_demand.reconcile.model import MakeRunner
from runners_on_demand.wiring import build, clients, read_settings, with_runner_groups
from simulator.harness.deployed_backend import DeployedBackend
from simulator.harness.dispatcher import DispatcherProcess, wait_idle
from simulator.harness.github_client import HARNESS_USER_AGENT
from simulator.harness.listen_story import listening
from simulator.harness.replicas import ReplicatedSimBackend
from simulator.harness.stack import Stack
from simulator.harness.world import World


def dispatcher_urls(stack: Stack) -> list[str]:
    """Every `rod serve` of the stack: the replicas, the deployed instances, or the one."""
    if isinstance(stack.backend, ReplicatedSimBackend):
        return [replica.url for replica in stack.backend.replicas]
    if isinstance(stack.backend, DeployedBackend):
        return stack.backend.instances()
    return [stack.endpoints.dispatcher_url]


def await_dispatchers_idle(world: World) -> None:
    """Every dispatcher carried out every dispatch it accepted (webhooks and reconciler alike)."""
    for url in dispatcher_urls(world.stack):
        wait_idle(url, world.timeout, world.tape.record)


def config_path(stack: Stack) -> str | None:
    """The `--config` file the stack's `rod serve` runs with; None means rod's defaults.

    The deployed backend's is the file its allocation rendered; a dispatcher the suite does not
    start (compose, external) is taken to run on the defaults.
    """
    backend = stack.backend
    if isinstance(backend, DeployedBackend):
        return str(backend.rendered_config())
    if isinstance(backend, ReplicatedSimBackend):
        args = backend.replicas[0].args
    else:
        process = getattr(backend, "dispatcher", None)
        args = process.args if isinstance(process, DispatcherProcess) else ()
    return args[args.index("--config") + 1] if "--config" in args else None


class _AsHarness(httpx.AsyncBaseTransport):
    """Sends rod's requests with the harness's User-Agent: they are the suite's check."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        request.headers["User-Agent"] = f"{HARNESS_USER_AGENT} (rod reconcile --dry-run)"
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


@dataclass(frozen=True)
class NextTick:
    """What the reconciler read, and the runners its next tick would dispatch."""

    read: frozenset[int]  # the queued jobs' ids
    dispatches: tuple[MakeRunner, ...]


async def _next_tick(settings: Settings, repo: str) -> NextTick:
    """The plan `rod reconcile --dry-run --repo REPO` prints (reconcile/cli.py), stored runners
    dispatched again included."""
    github_client, nomad_client = clients(
        settings, github_transport=_AsHarness(), nomad_transport=_AsHarness()
    )
    async with github_client, nomad_client:
        settings = await with_runner_groups(settings, github_client)
        parts = build(settings, github_client, nomad_client, metrics=Metrics(), repos=(repo,))
        reconciler = parts.reconciler
        observation, problems, _ = await reconciler.observe()
    assert observation is not None and not problems, f"the reconciler could not read: {problems}"
    made = [a for a in reconciler.plan(observation).actions if isinstance(a, MakeRunner)]
    return NextTick(frozenset(job.event.job_id for job in observation.jobs), tuple(made))


def next_tick(stack: Stack, repo: str) -> NextTick:
    """What the reconciler, as the stack's dispatcher runs it, reads and would dispatch now."""
    endpoints = stack.endpoints
    environ = {
        "GITHUB_API_URL": endpoints.github_url,
        "GITHUB_TOKEN": endpoints.github_token,
        "NOMAD_ADDR": endpoints.nomad_url,
        **({"NOMAD_TOKEN": endpoints.nomad_token} if endpoints.nomad_token else {}),
    }
    settings = read_settings(config_path(stack), environ, webhook=False)
    return asyncio.run(_next_tick(settings, repo))


def expect_no_dispatch_planned(stack: Stack, repo: str, job_id: int) -> NextTick:
    """The reconciler, as the dispatcher runs it, read the queued job and plans it no runner."""
    tick = next_tick(stack, repo)
    assert job_id in tick.read, f"the reconciler did not read job {job_id}: {sorted(tick.read)}"
    planned = [a.start.runner_name for a in tick.dispatches if a.event.job_id == job_id]
    assert not planned, f"the reconciler's next tick would dispatch {planned} for job {job_id}"
    return tick


def await_settled(world: World) -> None:
    """Nothing more will be made: GitHub sent every webhook it had scheduled, every dispatcher
    carried out what it accepted, and its reconciler's next tick would dispatch no runner.

    Listen intake: `rod listen` runs no reconciler; its next poll's fleet plan is not asked
    (the dispatcher being idle is all that is waited for there).
    """
    world.stack.control.flush_deliveries(world.timeout)
    await_dispatchers_idle(world)
    if listening(world):
        return
    tick = next_tick(world.stack, world.repo)
    planned = [f"{a.start.runner_name} (job {a.event.job_id})" for a in tick.dispatches]
    assert not planned, f"the reconciler's next tick would dispatch {planned}"
