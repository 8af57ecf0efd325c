"""behave hooks: one stack per run (before_all), a reset and a fresh World per scenario.

Choose where the system under test runs with `-D backend=sim|compose|external` (default sim,
set in pyproject's [tool.behave.userdata]); see simulator/harness/backends.py.
"""

from __future__ import annotations

from collections.abc import Iterator

from behave import fixture, use_fixture
from behave.model import Scenario
from behave.runner import Context

from simulator.harness import HarnessError, Stack, StackSettings, World


@fixture
def running_stack(context: Context) -> Iterator[Stack]:
    """Start GitHub, Nomad and `rod serve` once; stop them when the run ends."""
    stack = Stack(context.settings).start()
    try:
        yield stack
    finally:
        stack.stop()


def before_all(context: Context) -> None:
    try:
        context.settings = StackSettings.from_userdata(context.config.userdata)
        context.stack = use_fixture(running_stack, context)
    except HarnessError as exc:
        # One line, no traceback: behave prints "ABORTED: <reason>" and exits 1.
        context.abort(reason=str(exc))


def before_scenario(context: Context, scenario: Scenario) -> None:
    context.stack.reset()
    context.world = World(
        stack=context.stack,
        timeout=context.settings.timeout,
        job_seconds=context.settings.job_seconds,
    )
