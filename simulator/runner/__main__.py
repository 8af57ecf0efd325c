"""`python -m simulator.runner`: the same as `rod sim runner`."""

from simulator.runner.cli import command

command(prog_name="python -m simulator.runner")
