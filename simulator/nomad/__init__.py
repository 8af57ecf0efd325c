"""Nomad emulator: parameterized jobs, dispatch, allocations that run real processes."""
