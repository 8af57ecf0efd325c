"""The repositories the reconciler serves: configured ones, those an intake named, and those our
Nomad children name; minus those GitHub answers 404 for, until an intake names them again."""

from __future__ import annotations

from collections.abc import Iterable

from runners_on_demand.names import is_valid_full_name
from runners_on_demand.observed import MANAGED_BY, MANAGED_BY_KEY, Child

__all__ = ["ServedRepos"]


class ServedRepos:
    """The repositories the reconciler serves: configured ones and those an intake named."""

    def __init__(self, configured: Iterable[str] = ()) -> None:
        self._configured = {repo.lower(): repo for repo in configured}
        self._heard: dict[str, str] = {}
        self._gone: set[str] = set()  # GitHub answered 404: not served until named again
        self._reported: set[str] = set()

    def saw(self, full_name: str) -> None:
        """An intake heard of a job in this repository: serve it from now on."""
        if is_valid_full_name(full_name):
            self._gone.discard(full_name.lower())
            self._heard.setdefault(full_name.lower(), full_name)

    def forget(self, full_name: str) -> bool:
        """GitHub answers 404 for it: stop serving it; True the first time (to log it once)."""
        key = full_name.lower()
        self._gone.add(key)
        self._heard.pop(key, None)
        first = key not in self._reported
        self._reported.add(key)
        return first

    def names(self, children: Iterable[Child]) -> dict[str, str]:
        """Lower-case name -> name: configured, heard of, and named by our Nomad children."""
        repos = {**self._configured, **self._heard}
        for child in children:
            full_name = child.meta.get("REPO_FULL_NAME", "")
            if child.meta.get(MANAGED_BY_KEY) == MANAGED_BY and is_valid_full_name(full_name):
                repos.setdefault(full_name.lower(), full_name)
        return {key: name for key, name in repos.items() if key not in self._gone}
