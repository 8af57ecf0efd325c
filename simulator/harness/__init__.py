"""Start the emulators and the dispatcher together, for the acceptance suite and rod demo."""

from simulator.harness.backend_base import Backend, Endpoints
from simulator.harness.backends import backend_named
from simulator.harness.errors import BackendUnavailable, HarnessError, StackStartError, WaitTimeout
from simulator.harness.github_client import ScriptedJob
from simulator.harness.settings import StackSettings
from simulator.harness.stack import Stack
from simulator.harness.waiting import wait_for
from simulator.harness.world import World

__all__ = [
    "Backend",
    "BackendUnavailable",
    "Endpoints",
    "HarnessError",
    "ScriptedJob",
    "Stack",
    "StackSettings",
    "StackStartError",
    "WaitTimeout",
    "World",
    "backend_named",
    "wait_for",
]
