"""The `[reconcile]` table of the config file; times in seconds.

[reconcile]
interval_seconds = 60          # 0 turns the loop inside `rod serve` off
boot_timeout_seconds = 300     # a runner must connect this soon after its dispatch
idle_grace_seconds = 60        # no fresh runner is retired as surplus or childless sooner
max_retries = 3                # new runners per job attempt after the first one failed
dispatch_delay_seconds = 0     # leave a new queued job to the webhook path this long
repos = ["octo/app"]           # served even before a webhook comes from them
forget_repos_after_seconds = 86400  # a repository heard of is served this long after its last
                                    # event or queued job
state_variable = "rod/served-repos"  # the Nomad Variable keeping the repositories heard of
                                     # across restarts (heard.py); "" keeps them in memory only
"""

from __future__ import annotations

from dataclasses import dataclass, field

from runners_on_demand.names import is_valid_full_name
from runners_on_demand.reconcile.heard import is_variable_path
from runners_on_demand.tables import DAY, bounds, strings

__all__ = ["ReconcileSettings"]


@dataclass(frozen=True)
class ReconcileSettings:
    """How often and how patiently the reconciler works."""

    interval_seconds: float = field(default=60.0, metadata=bounds(0, DAY))
    # A runner must connect within this long after its child was submitted (aws-runners: 5 min).
    boot_timeout_seconds: float = field(default=300.0, metadata=bounds(1, DAY))
    # A unit younger than this is never retired as surplus, so a fresh dispatch is not undone;
    # nor is a JIT runner without a child that no dispatch of this process holds.
    idle_grace_seconds: float = field(default=60.0, metadata=bounds(0, DAY))
    # New runners per job attempt after the first, when earlier ones failed or were taken.
    max_retries: int = field(default=3, metadata=bounds(0, 100))
    # The webhook path gets this long to serve a queued job before the reconciler does.
    dispatch_delay_seconds: float = field(default=0.0, metadata=bounds(0, DAY))
    repos: tuple[str, ...] = field(
        default=(), metadata=strings(is_valid_full_name, "must be a list of owner/repo names")
    )
    # GitHub fails a job still queued after 24 hours; later events bring a repository back.
    forget_repos_after_seconds: float = field(default=DAY, metadata=bounds(60, 30 * DAY))
    # A job acknowledged just before a crash is served after the restart only if its repository
    # is still known: the repositories heard of are kept in this Nomad Variable.
    state_variable: str = field(
        default="rod/served-repos",
        metadata=strings(
            is_variable_path,
            'must be a Nomad Variable path outside nomad/ (letters, digits, "-", "_", "~", "/"; '
            'at most 128), or "" for none',
        ),
    )
