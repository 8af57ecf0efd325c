"""The `[listen]` table of the config file (read by tables.py); times in seconds. Pure.

[listen]
url = "https://github.com/my-org"   # the scope: an organization, or OWNER/REPO (required)
scale_set = "rod"                  # the runner scale set's name; jobs ask for it in runs-on
runner_group = "Default"           # the org's runner group the scale set belongs to
labels = ["self-hosted", "linux"]  # the scale set's labels; [] = its name only
min_runners = 0                    # idle runners kept waiting
max_runners = 10                   # never more runners than this (X-ScaleSetMaxCapacity)
pool = "default"                   # the [[pools]] entry whose Nomad job runs the runners
host = "127.0.0.1"                 # /healthz, /readyz and /metrics (nothing else listens)
port = 8081
"""

from __future__ import annotations

from dataclasses import dataclass, field

from runners_on_demand.decision import MAX_LABELS, Policy, Pool
from runners_on_demand.listen.scope import parse_config_url
from runners_on_demand.tables import DAY, bounds, strings

__all__ = ["ListenSettings", "listen_pool", "listen_problems"]


def _label(label: str) -> bool:
    """A label travels comma-joined in RUNNER_LABELS: non-empty, no comma."""
    return bool(label.strip()) and "," not in label


@dataclass(frozen=True)
class ListenSettings:
    """Which scale set `rod listen` serves, how many runners it keeps, where it reports."""

    url: str = ""
    scale_set: str = "rod"
    runner_group: str = "Default"
    labels: tuple[str, ...] = field(
        default=(), metadata=strings(_label, "must be a list of labels without commas")
    )
    min_runners: int = field(default=0, metadata=bounds(0, 10_000))
    max_runners: int = field(default=10, metadata=bounds(1, 10_000))
    pool: str = ""  # empty: the first pool
    host: str = "127.0.0.1"
    port: int = field(default=8081, metadata=bounds(0, 65535))
    # A GitHub App's installation; 0: looked up from the repository or organization.
    installation_id: int = field(default=0, metadata=bounds(0, 2**53))
    # [S] gives a held poll 5 minutes; the service answers 202 after about 50 s.
    poll_timeout_seconds: float = field(default=300.0, metadata=bounds(1, 3600))
    # An idle runner younger than this is not retired as surplus (statistics can dip briefly).
    idle_grace_seconds: float = field(default=10.0, metadata=bounds(0, DAY))
    # A runner still offline this long after its dispatch is replaced.
    boot_timeout_seconds: float = field(default=300.0, metadata=bounds(1, DAY))
    # How often the scope's runners are compared with the Nomad children (and at each session).
    sweep_interval_seconds: float = field(default=120.0, metadata=bounds(1, DAY))

    @property
    def scale_set_labels(self) -> tuple[str, ...]:
        """The labels the scale set is created with: the configured ones, else its name."""
        return self.labels or (self.scale_set,)


def listen_pool(settings: ListenSettings, policy: Policy) -> Pool | None:
    """The pool `settings.pool` names (the first pool when empty), or None."""
    if not settings.pool:
        return policy.pools[0]
    return next((pool for pool in policy.pools if pool.name == settings.pool), None)


def listen_problems(settings: ListenSettings, policy: Policy) -> list[str]:
    """What keeps `rod listen` from working with these settings, one line each."""
    problems = []
    if not settings.url:
        problems.append("listen.url is not set: the organization or repository to serve")
    else:
        try:
            parse_config_url(settings.url)
        except ValueError as error:
            problems.append(f"listen.url: {error}")
    # Runner names are rod-ss{id}-..., so the scale set name is free; GitHub limits it to 100.
    if not settings.scale_set.strip() or len(settings.scale_set) > 100:
        problems.append("listen.scale_set must be a name of 1 to 100 characters")
    if not settings.runner_group.strip():
        problems.append("listen.runner_group must not be empty")
    if len(settings.labels) > MAX_LABELS:
        problems.append(f"listen.labels: at most {MAX_LABELS} labels")
    if settings.min_runners > settings.max_runners:
        problems.append("listen.min_runners must not exceed listen.max_runners")
    pool = listen_pool(settings, policy)
    if pool is None:
        names = ", ".join(pool.name for pool in policy.pools)
        problems.append(f"listen.pool {settings.pool!r} is not a configured pool ({names})")
    elif pool.runner_group:
        # The scale set's runners join its own group (listen.runner_group).
        problems.append(
            f"listen.pool {pool.name!r} has a runner_group; the scale set names its group "
            "in listen.runner_group: choose a pool without one"
        )
    return problems
