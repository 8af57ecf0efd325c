"""Lifecycles as data: a table of allowed state transitions; anything else is an error."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


class IllegalTransition(Exception):
    """A state change the lifecycle table does not allow (an emulator bug, never the caller)."""


@dataclass(frozen=True)
class Lifecycle:
    """Named states and the transitions allowed between them."""

    name: str
    transitions: Mapping[str, frozenset[str]]

    def check(self, current: str, new: str) -> str:
        """Return `new` if `current -> new` is allowed, else raise IllegalTransition."""
        if new not in self.transitions.get(current, frozenset()):
            raise IllegalTransition(f"{self.name}: {current!r} -> {new!r} is not allowed")
        return new

    def is_terminal(self, state: str) -> bool:
        """True when no transition leaves `state`."""
        return not self.transitions.get(state)


def lifecycle(name: str, table: Mapping[str, tuple[str, ...]]) -> Lifecycle:
    """Build a Lifecycle from a `{state: (next states...)}` table."""
    return Lifecycle(name, {state: frozenset(nexts) for state, nexts in table.items()})
