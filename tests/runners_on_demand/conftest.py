"""Fixtures shared by the reconciler's and the listener's tests over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from simulator.nomad import NomadEmulator
from simulator.nomad.drivers import InProcessDriver
from tests.runners_on_demand.reconcile.conftest import never_connects, nomad_with


@pytest.fixture
def processes() -> Iterator[NomadEmulator]:
    """The real runner job; its task is the fake runner."""
    emulator = nomad_with("process")
    yield emulator
    emulator.stop()


@pytest.fixture
def silent() -> Iterator[NomadEmulator]:
    """The real runner job; its runner never connects (it waits until Nomad stops it)."""
    emulator = nomad_with(InProcessDriver(default=never_connects))
    yield emulator
    emulator.stop()


@pytest.fixture
def registered() -> Iterator[NomadEmulator]:
    """The real runner job, registered; nothing it dispatches needs to run (in-process tasks)."""
    emulator = nomad_with("inprocess")
    yield emulator
    emulator.stop()
