"""What one reconcile tick reads of GitHub, scope by scope (see loop.py for the order).

A scope is read in full or not at all: a repository whose listing failed is left out of the
plan, and so is the organization it belongs to, whose demand would be incomplete without it.
A repository GitHub answers 404 for is no problem of the tick but `gone` (the caller forgets it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

from runners_on_demand.errors import GitHubRateLimited, UpstreamError
from runners_on_demand.observed import QueuedJob, Runner
from runners_on_demand.ports import GitHubPort

__all__ = ["GitHubReads"]

T = TypeVar("T")


class GitHubReads:
    """One tick's GitHub reads, served repositories first; a rate limit stops them all."""

    def __init__(self, github: GitHubPort, served: Mapping[str, str]) -> None:
        self._github = github
        self._served = dict(sorted(served.items()))  # lower-case name -> name
        self._orgs: set[str] = set()  # organizations whose runners were asked for
        self._unread: set[str] = set()  # scope keys not read in full
        self.gone: dict[str, str] = {}  # repositories GitHub answered 404 for: key -> name
        self.problems: list[str] = []
        self.retry_after = 0.0

    async def jobs(self) -> list[QueuedJob]:
        """The queued jobs of every served repository still readable."""
        found: list[QueuedJob] = []
        for key, full_name in self._served.items():
            owner, _, name = full_name.partition("/")
            found += await self._read(key, full_name, self._github.list_queued_jobs, owner, name)
        return found

    async def runners(self, scopes: tuple[bool, Mapping[str, str]]) -> list[Runner]:
        """The runners of the served repositories (if asked) and of the organizations."""
        repositories, orgs = scopes
        found: list[Runner] = []
        if repositories:
            for key, full_name in self._served.items():
                owner, _, name = full_name.partition("/")
                found += await self._read(key, full_name, self._github.list_runners, owner, name)
        for key, org in sorted(orgs.items()):
            self._orgs.add(key)
            found += await self._read(key, org, self._github.list_runners, org, None)
        return found

    def observed(self) -> set[str]:
        """Scopes read in full: an organization only with every served repository of it."""
        repos = {key for key in self._served if key not in self._unread}
        partial = {key.partition("/")[0] for key in self._unread - self.gone.keys()}
        return repos | (self._orgs - self._unread - partial)

    def unread(self) -> frozenset[str]:
        """Scopes not read in full, but not for a 404: they may still hold what was not seen."""
        return frozenset(self._unread - self.gone.keys())

    async def _read(
        self, key: str, where: str, read: Callable[..., Awaitable[list[T]]], *args: str | None
    ) -> list[T]:
        """`read(*args)`'s items; none (noting why) when it fails, when `key` failed before, or
        once a rate limit was hit."""
        if key not in self._unread and not self.retry_after:
            try:
                return await read(*args)
            except GitHubRateLimited as error:
                self.retry_after = error.retry_after
                self.problems.append(f"{where} and later repositories: {error}")
            except UpstreamError as error:
                if error.status == 404 and key in self._served:
                    self.gone[key] = where
                else:
                    self.problems.append(f"{where}: {error}")
        self._unread.add(key)
        return []
