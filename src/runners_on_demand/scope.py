"""Where a runner is registered (`RunnerScope`) and which repositories an org's runner group serves.

A runner lives on a repository (`/repos/{owner}/{repo}/actions/runners`) or on an organization
(`/orgs/{org}/actions/runners`), where it belongs to one runner group; GitHub gives an org
runner only jobs of the repositories its group allows. Pure: the parsers below read REST JSON.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

__all__ = ["RunnerGroup", "RunnerScope", "runner_group_from_rest"]

# https://docs.github.com/rest/actions/self-hosted-runner-groups (visibility)
VISIBILITIES = ("all", "selected", "private")


class RunnerScope(NamedTuple):
    """A repository (`owner`, `repo`) or an organization (`owner`, None); unpacks as the port's
    `owner, repo` arguments."""

    owner: str
    repo: str | None = None

    @property
    def key(self) -> str:
        """Lower-case `owner/repo`, or the organization's login: the reconciler's key."""
        return (self.owner if self.repo is None else f"{self.owner}/{self.repo}").lower()

    @classmethod
    def parse(cls, key: str) -> RunnerScope:
        """The scope of a key: `owner/repo` is a repository, a bare login an organization."""
        owner, sep, repo = key.partition("/")
        return cls(owner, repo if sep else None)

    def __str__(self) -> str:
        return self.owner if self.repo is None else f"{self.owner}/{self.repo}"


@dataclass(frozen=True)
class RunnerGroup:
    """An organization's runner group, as listed: its id and which repositories may use it."""

    org: str
    id: int
    name: str
    visibility: str = "all"  # all | selected | private
    allows_public_repositories: bool = False
    # Lower-case owner/repo names of a `selected` group's repositories.
    selected: frozenset[str] = frozenset()

    def allows(self, full_name: str, private: bool | None) -> bool:
        """Whether a job of this repository may run on the group's runners.

        "By default, only private repositories can access runners in a runner group"
        (https://docs.github.com/actions/how-tos/manage-runners/self-hosted-runners/manage-access);
        an unknown visibility (`private` None) is left to GitHub.
        """
        owner, _, _ = full_name.partition("/")
        if owner.lower() != self.org.lower():
            return False
        if private is False and not self.allows_public_repositories:
            return False
        if self.visibility == "selected":
            return full_name.lower() in self.selected
        if self.visibility == "private":
            return private is not False
        return True

    def describe(self) -> str:
        """Who may use the group, for people."""
        who = f"visibility {self.visibility}"
        if self.visibility == "selected":
            who += f" ({len(self.selected)} repositories)"
        public = "public repositories too" if self.allows_public_repositories else "private only"
        return f"runner group {self.name!r} (id {self.id}) of {self.org}: {who}, {public}"


def runner_group_from_rest(
    org: str, group: Mapping[str, Any], selected: Iterable[str] = ()
) -> RunnerGroup | None:
    """A group of `GET /orgs/{org}/actions/runner-groups` and its selected repositories' full
    names; None if unusable."""
    # https://docs.github.com/rest/actions/self-hosted-runner-groups#list-self-hosted-runner-groups-for-an-organization
    try:
        visibility = str(group["visibility"])
        return RunnerGroup(
            org=org,
            id=int(group["id"]),
            name=str(group["name"]),
            visibility=visibility if visibility in VISIBILITIES else "selected",
            allows_public_repositories=bool(group.get("allows_public_repositories", False)),
            selected=frozenset(name.lower() for name in selected),
        )
    except (KeyError, TypeError, ValueError):
        return None
