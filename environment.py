"""behave hooks: one stack per run (before_all), a reset and a fresh World per scenario.

Choose where the system under test runs with `-D backend=sim|compose|external` (default sim,
set in pyproject's [tool.behave.userdata]); see simulator/harness/backends.py.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from types import FrameType

from behave import fixture, use_fixture
from behave.model import Scenario
from behave.runner import Context

from simulator.harness import HarnessError, Stack, StackSettings, World
from simulator.harness.org_stack import OrgStack
from simulator.harness.replicas import StackOnDemand, reliable_stack


@fixture
def running_stack(context: Context) -> Iterator[Stack]:
    """Start GitHub, Nomad and `rod serve` once; stop them when the run ends."""
    stack = Stack(context.settings).start()
    try:
        yield stack
    finally:
        stack.stop()


@fixture
def reliable_stack_on_demand(context: Context) -> Iterator[StackOnDemand]:
    """The reliability stack, started by the first @fixture.reliable_stack feature."""
    on_demand = StackOnDemand(lambda: reliable_stack(context.settings))
    try:
        yield on_demand
    finally:
        on_demand.stop()


@fixture
def org_stack_on_demand(context: Context) -> Iterator[StackOnDemand]:
    """The organization stack, started by the first @fixture.org_stack feature."""
    on_demand = StackOnDemand(lambda: OrgStack(context.settings))
    try:
        yield on_demand
    finally:
        on_demand.stop()


# Feature tags -> the stack-on-demand (a context attribute) the feature runs on.
STACK_TAGS = {"fixture.reliable_stack": "reliable_stack", "fixture.org_stack": "org_stack"}


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    """A cancelled CI job unwinds like Ctrl-C, so the fixture stops every child process."""
    raise KeyboardInterrupt


def before_all(context: Context) -> None:
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        context.settings = StackSettings.from_userdata(context.config.userdata)
        context.stack = use_fixture(running_stack, context)
        context.reliable_stack = use_fixture(reliable_stack_on_demand, context)
        context.org_stack = use_fixture(org_stack_on_demand, context)
    except HarnessError as exc:
        # One line, no traceback: behave prints "ABORTED: <reason>" and exits 1.
        context.abort(reason=str(exc))


def before_tag(context: Context, tag: str) -> None:
    if tag not in STACK_TAGS:
        return
    if context.settings.backend != "sim":
        context.feature.skip(f"needs -D backend=sim, not {context.settings.backend}")
        return
    try:
        # Set in the feature's context layer: the run's own stack is back after the feature.
        context.stack = getattr(context, STACK_TAGS[tag]).get()
    except HarnessError as exc:
        context.abort(reason=str(exc))


def before_scenario(context: Context, scenario: Scenario) -> None:
    context.stack.reset()
    context.world = World(
        stack=context.stack,
        timeout=context.settings.timeout,
        job_seconds=context.settings.job_seconds,
    )
