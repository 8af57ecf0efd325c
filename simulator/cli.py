"""`rod sim ...`: run the emulators, the fake runner, or send one signed delivery."""

from __future__ import annotations

import click

from runners_on_demand.cli import LazyGroup

SIM_COMMANDS = {
    "nomad": "simulator.nomad.cli:command",
    "github": "simulator.github.cli:command",
    "runner": "simulator.runner.cli:command",
    "emit": "simulator.emit:command",
}


@click.group(cls=LazyGroup, lazy=SIM_COMMANDS)
def group() -> None:
    """Emulators of GitHub and Nomad, a fake runner, and a webhook sender."""
