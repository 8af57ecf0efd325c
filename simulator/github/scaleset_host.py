"""What the scale set service reads of the GitHub emulator (its host), and its timings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from simulator.github.scaleset import RunnerGroup

if TYPE_CHECKING:
    import threading

    from simulator.clock import Clock
    from simulator.github.actions import Actions, Runner
    from simulator.github.runner_groups import RunnerGroups
    from simulator.github.runners import RegistrationToken


class GitHubBackend(Protocol):
    """What the service reads of the GitHub emulator's backend (models.GitHubBackend)."""

    lock: threading.RLock
    clock: Clock
    base_url: str
    actions: Actions
    runner_groups: RunnerGroups
    reg_tokens: dict[str, RegistrationToken]

    def encode_jit(self, runner: Runner, scope: str, work_folder: str) -> str:
        """A JIT config for `runner`."""
        ...


@dataclass
class ScaleSetSettings:
    """Timings of the emulated service, in seconds (emulator clock, except the poll's hold)."""

    poll_hold: float = 50.0  # a GET message with nothing to say answers 202 after this
    session_timeout: float = 300.0  # a session nobody polls for this long is gone
    admin_token_lifetime: float = 3600.0
    queue_token_lifetime: float = 3000.0  # 401s "about every 50 min" (ARC #4356)


def runner_groups(github: GitHubBackend, scope: str) -> list[RunnerGroup]:
    """The runner groups of a scope: an organization's own, a repository's "Default" only."""
    if "/" in scope or not github.runner_groups.has_org(scope):
        return [RunnerGroup(1, "Default", True)]
    return [RunnerGroup(g.id, g.name, g.default) for g in github.runner_groups.list(scope)]
