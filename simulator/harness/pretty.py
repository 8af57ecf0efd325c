"""behave's `pretty` format, also printing Rule and Background headings (feature files as docs).

behave 1.3.3's PrettyFormatter never prints a Rule's heading, and for a Background it prints the
Feature's heading a second time; this subclass fixes both and changes nothing else.
"""

from __future__ import annotations

from typing import Any

from behave.formatter.pretty import PrettyFormatter as BehavePrettyFormatter  # type: ignore[import-untyped]


class PrettyFormatter(BehavePrettyFormatter):  # type: ignore[misc]
    """Registered as `pretty` in pyproject's [tool.behave.formatters]."""

    def rule(self, rule: Any) -> None:
        """Print `Rule: name` and its description before the rule's scenarios."""
        super().rule(rule)
        self.stream.write(f"\n  {rule.keyword}: {rule.name}\n")
        self.print_description(rule.description, "    ")
        self.statement = None

    def background(self, background: Any) -> None:
        """Print `Background: name`; its steps show under each scenario, as before."""
        indent = "    " if self.current_rule else "  "
        self.stream.write(f"\n{indent}{background.keyword}: {background.name}\n")
        self.statement = None
