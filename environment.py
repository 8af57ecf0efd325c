"""behave hooks: one stack per run (before_all), a reset and a fresh World per scenario.

Choose where the system under test runs with `-D backend=sim|compose|external` (default sim,
set in pyproject's [tool.behave.userdata]; see simulator/harness/backends.py) and how jobs come
in with `-D intake=webhook|listen` (simulator/harness/intake.py). The step and scenario hooks
also record what each scenario did over HTTP for the living documentation
(simulator/harness/recording.py; `make docs` builds the site from it).
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from types import FrameType

from behave import fixture, use_fixture
from behave.model import Feature, Scenario, Step
from behave.runner import Context

from simulator.harness import HarnessError, Stack, StackSettings, World
from simulator.harness.org_stack import OrgStack
from simulator.harness.recording import Recorder, Tape
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
def living_record(context: Context) -> Iterator[Recorder]:
    """The calls file for the living documentation, checked for secrets when the run ends."""
    config = context.config
    recorder = Recorder(
        context.settings.log_dir / "livedoc.jsonl",
        backend=context.settings.backend,
        tag_expression=str(config.tag_expression or ""),
        paths=[str(path) for path in config.paths],
    )
    try:
        yield recorder
    finally:
        recorder.close()


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
        context.recorder = use_fixture(living_record, context)
        context.stack = use_fixture(running_stack, context)
        context.reliable_stack = use_fixture(reliable_stack_on_demand, context)
        context.org_stack = use_fixture(org_stack_on_demand, context)
    except HarnessError as exc:
        # One line, no traceback: behave prints "ABORTED: <reason>" and exits 1.
        context.abort(reason=str(exc))


def before_tag(context: Context, tag: str) -> None:
    intake = context.settings.intake
    if tag.startswith("intake.") and tag != f"intake.{intake}":
        context.feature.skip(f"needs -D {tag.replace('.', '=')}, not intake={intake}")
        return
    if tag not in STACK_TAGS:
        return
    if intake != "webhook":  # rod serve replicas; features/listen/ has the listener's
        context.feature.skip(f"runs rod serve replicas, not intake={intake}")
        return
    backend = context.settings.backend
    if backend == "deployed" and "also.deployed" in context.feature.tags:
        return  # needs only the emulators' fault injection: runs on the deployed stack itself
    if backend != "sim":
        context.feature.skip(
            f"needs -D backend=sim (rod serve processes the suite configures, kills and "
            f"restarts), not {backend}"
        )
        return
    try:
        # Set in the feature's context layer: the run's own stack is back after the feature.
        context.stack = getattr(context, STACK_TAGS[tag]).get()
    except HarnessError as exc:
        context.abort(reason=str(exc))


def before_scenario(context: Context, scenario: Scenario) -> None:
    context.recorder.scenario_started()
    context.stack.reset()
    context.world = World(
        stack=context.stack,
        timeout=context.settings.timeout,
        job_seconds=context.settings.job_seconds,
    )


def before_step(context: Context, step: Step) -> None:
    context.recorder.step_started(step)


def after_step(context: Context, step: Step) -> None:
    context.recorder.step_ended(step)


def after_scenario(context: Context, scenario: Scenario) -> None:
    # No World when before_scenario failed (its hook error is the scenario's outcome).
    tape = context.world.tape if hasattr(context, "world") else Tape()
    context.recorder.scenario_ended(scenario, context.stack, tape)


def after_feature(context: Context, feature: Feature) -> None:
    context.recorder.feature_ended(feature)
