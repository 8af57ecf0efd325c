"""The repositories the reconciler serves: configured ones, those an intake named lately, and
those our Nomad children name; minus those GitHub answers 404 for, until an intake names them
again."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from runners_on_demand.names import is_valid_full_name
from runners_on_demand.observed import MANAGED_BY, MANAGED_BY_KEY, Child
from runners_on_demand.tables import DAY

__all__ = ["Served", "ServedRepos"]


@dataclass(frozen=True)
class Served:
    """A served repository and why: configured, heard of (when last), named by a Nomad child."""

    name: str
    configured: bool = False
    heard_at: float | None = None
    by_child: bool = False


class ServedRepos:
    """The repositories the reconciler serves.

    A repository heard of is served until `forget_after` seconds pass without an event or a
    queued job of it (an org hook may bring thousands of repositories over time), or until
    GitHub answers 404 for it. `on_new` is called when a repository is heard of afresh (the
    Nomad Variable that keeps them across restarts is then written soon: heard_variable.py).
    """

    def __init__(
        self,
        configured: Iterable[str] = (),
        *,
        forget_after: float = DAY,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._configured = {repo.lower(): repo for repo in configured}
        self._heard: dict[str, tuple[str, float]] = {}  # lower-case -> (name, last heard)
        self._gone: set[str] = set()  # GitHub answered 404: not served until named again
        self._reported: set[str] = set()
        self._forget_after = forget_after
        self._clock = clock
        self.on_new: Callable[[], None] = lambda: None

    def saw(self, full_name: str) -> None:
        """An intake heard of a job in this repository (or a tick saw one queued): serve it."""
        key = full_name.lower()
        known = key in self._heard
        if known or is_valid_full_name(full_name):  # a name heard is valid
            self._gone.discard(key)
            self._heard[key] = (full_name, self._clock())
            if not known:
                self.on_new()

    def seed(self, heard: Mapping[str, tuple[str, float]]) -> None:
        """Serve repositories heard of before a restart (lower-case name -> (name, last heard))."""
        cutoff = self.cutoff()
        for key, (name, at) in heard.items():
            mine = self._heard.get(key)
            if at >= cutoff and key not in self._gone and (mine is None or mine[1] < at):
                self._heard[key] = (name, at)

    def heard(self) -> dict[str, tuple[str, float]]:
        """The repositories heard of since `cutoff()`: lower-case name -> (name, last heard)."""
        cutoff = self.cutoff()
        return {key: heard for key, heard in self._heard.items() if heard[1] >= cutoff}

    def cutoff(self) -> float:
        """A repository last heard of before this time is no longer served for it."""
        return self._clock() - self._forget_after

    @property
    def gone(self) -> frozenset[str]:
        """The lower-case names GitHub answered 404 for, not served until named again."""
        return frozenset(self._gone)

    def forget(self, full_name: str) -> bool:
        """GitHub answers 404 for it: stop serving it; True the first time (to log it once)."""
        key = full_name.lower()
        self._gone.add(key)
        self._heard.pop(key, None)
        first = key not in self._reported
        self._reported.add(key)
        return first

    def names(self, children: Iterable[Child]) -> dict[str, str]:
        """Lower-case name -> name: configured, heard of lately, named by our Nomad children."""
        return {key: served.name for key, served in self.served(children).items()}

    def served(self, children: Iterable[Child]) -> dict[str, Served]:
        """Lower-case name -> the repository and why it is served (`names`)."""
        self._heard = self.heard()
        named: dict[str, str] = {}
        for child in children:
            full_name = child.meta.get("REPO_FULL_NAME", "")
            if child.meta.get(MANAGED_BY_KEY) == MANAGED_BY and is_valid_full_name(full_name):
                named.setdefault(full_name.lower(), full_name)
        heard = {key: name for key, (name, _) in self._heard.items()}
        repos = {**named, **self._configured, **heard}  # the spelling last heard of first
        return {
            key: Served(
                name,
                configured=key in self._configured,
                heard_at=self._heard[key][1] if key in self._heard else None,
                by_child=key in named,
            )
            for key, name in repos.items()
            if key not in self._gone
        }
