"""The `[reconcile]` table of the config file, checked like the rest of `config.py`.

[reconcile]
interval_seconds = 60          # 0 turns the loop inside `rod serve` off
boot_timeout_seconds = 300     # a runner must connect this soon after its dispatch
idle_grace_seconds = 60        # no fresh runner is retired as surplus or childless sooner
max_retries = 3                # new runners per job attempt after the first one failed
dispatch_delay_seconds = 0     # leave a new queued job to the webhook path this long
repos = ["octo/app"]           # served even before a webhook comes from them
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runners_on_demand.decision import Policy
from runners_on_demand.delivery import is_valid_full_name
from runners_on_demand.reconcile import ReconcilePolicy

__all__ = ["ReconcileSettings", "reconcile_settings"]

_NUMBERS = {
    "interval_seconds": (0.0, 86_400.0),
    "boot_timeout_seconds": (1.0, 86_400.0),
    "idle_grace_seconds": (0.0, 86_400.0),
    "dispatch_delay_seconds": (0.0, 86_400.0),
}


@dataclass(frozen=True)
class ReconcileSettings:
    """How often and how patiently the reconciler works; times in seconds."""

    interval_seconds: float = 60.0
    boot_timeout_seconds: float = 300.0
    idle_grace_seconds: float = 60.0
    max_retries: int = 3
    dispatch_delay_seconds: float = 0.0
    repos: tuple[str, ...] = ()

    def policy(self, decision: Policy, *, jit: bool) -> ReconcilePolicy:
        """The plan's knobs, with the webhook path's own decision policy."""
        return ReconcilePolicy(
            decision=decision,
            boot_timeout=self.boot_timeout_seconds,
            idle_grace=self.idle_grace_seconds,
            max_retries=self.max_retries,
            dispatch_delay=self.dispatch_delay_seconds,
            runner_precreated=jit,
        )


def reconcile_settings(table: dict[str, Any], problems: list[str]) -> ReconcileSettings:
    """The `[reconcile]` table as settings; every problem found is appended to `problems`."""
    values: dict[str, Any] = {}
    for key, value in table.items():
        where = f"reconcile.{key}"
        if key in _NUMBERS:
            low, high = _NUMBERS[key]
            if (
                isinstance(value, int | float)
                and not isinstance(value, bool)
                and low <= value <= high
            ):
                values[key] = float(value)
            else:
                problems.append(f"{where} must be a number from {low:g} to {high:g}")
        elif key == "max_retries":
            if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 100:
                values[key] = value
            else:
                problems.append(f"{where} must be an integer from 0 to 100")
        elif key == "repos":
            if isinstance(value, list) and all(
                isinstance(v, str) and is_valid_full_name(v) for v in value
            ):
                values[key] = tuple(value)
            else:
                problems.append(f"{where} must be a list of owner/repo names")
        else:
            problems.append(f"unknown key {where} in the config file")
    return ReconcileSettings(**values)
