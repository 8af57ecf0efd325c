"""The `rod` command line: `rod serve`, `rod listen`, `rod reconcile`, `rod demo`, `rod sim ...`."""

from __future__ import annotations

import importlib
from typing import Any

import click

# name -> "module:attribute" of a click command, imported only when that command runs.
LAZY_COMMANDS = {
    "serve": "runners_on_demand.serve:command",
    "listen": "runners_on_demand.listen.cli:command",
    "reconcile": "runners_on_demand.reconcile.cli:command",
    "hooks": "runners_on_demand.hooks.cli:group",
    "demo": "simulator.harness.demo:command",
    "sim": "simulator.cli:group",
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use, so `rod serve` stays light."""

    def __init__(self, *args: Any, lazy: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy:
            module_name, attribute = self.lazy[cmd_name].split(":")
            command = getattr(importlib.import_module(module_name), attribute)
            assert isinstance(command, click.Command)
            return command
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup, lazy=LAZY_COMMANDS)
@click.version_option(package_name="runners-on-demand")
def main() -> None:
    """Ephemeral self-hosted GitHub Actions runners, dispatched on Nomad when a job asks."""
