"""Nomad emulator: parameterized jobs, dispatch, allocations that run real processes."""

from simulator.nomad.emulator import NomadEmulator
from simulator.nomad.models import NomadBackend
from simulator.nomad.routes import create_app

__all__ = ["NomadBackend", "NomadEmulator", "create_app"]
