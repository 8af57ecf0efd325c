"""Self-hosted runner groups of organizations: which repositories may use an org's runners.

Facts relied on (github/docs content/actions/how-tos/manage-runners/self-hosted-runners/
manage-access.md and the OpenAPI description of `/orgs/{org}/actions/runner-groups`):
- every organization has one default group, id 1, named "Default", visibility `all`; new
  runners join it unless another group is named; a runner is in exactly one group;
- `visibility` is `all` (every repository of the org), `selected` (the listed repositories) or
  `private` (every private repository); adding a repository needs visibility `selected`;
- "By default, only private repositories can access runners in a runner group":
  `allows_public_repositories` defaults to false, and while it is false even a public
  repository that is selected cannot use the group (go-github#1998, github/docs#8209);
- removing a runner from a group returns it to the default group.
Pure state, no I/O: the backend validates repository and runner ids before calling in here.
`get(org, id)` and `find(org, name)` are the lookups other Actions surfaces (runner
registration, the runner scale set API) resolve a group with.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from simulator.github.errors import Conflict, NotFound, ValidationFailed

DEFAULT_GROUP_ID = 1
DEFAULT_GROUP_NAME = "Default"
VISIBILITIES = ("all", "selected", "private")


@dataclass
class RunnerGroup:
    """One organization runner group and its repository access policy."""

    id: int
    org: str
    name: str
    visibility: str = "all"
    allows_public_repositories: bool = False
    default: bool = False
    selected_repository_ids: list[int] = field(default_factory=list)
    restricted_to_workflows: bool = False
    selected_workflows: list[str] = field(default_factory=list)

    def allows(self, *, repo_id: int, private: bool) -> bool:
        """True when a job of this repository may run on this group's runners."""
        if not private and not self.allows_public_repositories:
            return False
        if self.visibility == "selected":
            return repo_id in self.selected_repository_ids
        if self.visibility == "private":
            return private
        return True


def _visibility(value: str) -> str:
    if value not in VISIBILITIES:
        raise ValidationFailed(
            f"Invalid request.\n\nFor 'visibility', {value!r} is not a valid value."
            f" Valid values are {', '.join(VISIBILITIES)}."
        )
    return value


class RunnerGroups:
    """Every organization's runner groups, keyed by org login and group id."""

    def __init__(self, ids: dict[str, int] | None = None) -> None:
        self._by_org: dict[str, dict[int, RunnerGroup]] = {}
        # Group ids are never reused; pass the backend's `ids` to keep that across resets.
        self._ids = ids if ids is not None else {}
        self._ids.setdefault("runner_group", DEFAULT_GROUP_ID)

    def add_org(self, org: str) -> RunnerGroup:
        """Give a new organization its default group."""
        default = RunnerGroup(DEFAULT_GROUP_ID, org, DEFAULT_GROUP_NAME, default=True)
        self._by_org[org] = {default.id: default}
        return default

    def list(self, org: str) -> list[RunnerGroup]:
        """An organization's groups, by id."""
        return sorted(self._groups(org).values(), key=lambda g: g.id)

    def has_org(self, org: str) -> bool:
        """Whether `org` is an organization with groups."""
        return org in self._by_org

    def get(self, org: str, group_id: int) -> RunnerGroup:
        """One group; 404 when the org has no group with that id."""
        group = self._groups(org).get(group_id)
        if group is None:
            raise NotFound()
        return group

    def find(self, org: str, name: str) -> RunnerGroup | None:
        """The group called `name` (case-insensitively), or None."""
        wanted = name.casefold()
        return next((g for g in self.list(org) if g.name.casefold() == wanted), None)

    def create(
        self,
        org: str,
        *,
        name: str,
        visibility: str = "all",
        selected_repository_ids: Iterable[int] = (),
        allows_public_repositories: bool = False,
        restricted_to_workflows: bool = False,
        selected_workflows: Iterable[str] = (),
    ) -> RunnerGroup:
        """A new group; 409 when the name is taken, 422 for a bad name or visibility."""
        self._check_name(org, name, None)
        self._ids["runner_group"] += 1
        group = RunnerGroup(
            self._ids["runner_group"],
            org,
            name,
            _visibility(visibility),
            allows_public_repositories,
            restricted_to_workflows=restricted_to_workflows,
            selected_workflows=list(selected_workflows),
        )
        if visibility == "selected":
            group.selected_repository_ids = list(dict.fromkeys(selected_repository_ids))
        self._groups(org)[group.id] = group
        return group

    def update(
        self,
        org: str,
        group_id: int,
        *,
        name: str,
        visibility: str | None = None,
        allows_public_repositories: bool | None = None,
        restricted_to_workflows: bool | None = None,
        selected_workflows: Iterable[str] | None = None,
    ) -> RunnerGroup:
        """PATCH: `name` is required; leaving `selected` drops the repository list."""
        group = self.get(org, group_id)
        self._check_name(org, name, group)
        group.name = name
        if visibility is not None:
            group.visibility = _visibility(visibility)
            if visibility != "selected":
                group.selected_repository_ids = []
        if allows_public_repositories is not None:
            group.allows_public_repositories = allows_public_repositories
        if restricted_to_workflows is not None:
            group.restricted_to_workflows = restricted_to_workflows
        if selected_workflows is not None:
            group.selected_workflows = list(selected_workflows)
        return group

    def delete(self, org: str, group_id: int) -> RunnerGroup:
        """Remove a group (its runners are the caller's to move); the default group stays."""
        group = self.get(org, group_id)
        if group.default:
            raise ValidationFailed("The default runner group cannot be deleted.")
        del self._groups(org)[group_id]
        return group

    def set_repositories(self, org: str, group_id: int, repo_ids: Iterable[int]) -> None:
        """Replace the selected repositories (visibility must be `selected`)."""
        self._selected(org, group_id).selected_repository_ids = list(dict.fromkeys(repo_ids))

    def add_repository(self, org: str, group_id: int, repo_id: int) -> None:
        """Select one more repository (visibility must be `selected`)."""
        group = self._selected(org, group_id)
        if repo_id not in group.selected_repository_ids:
            group.selected_repository_ids.append(repo_id)

    def remove_repository(self, org: str, group_id: int, repo_id: int) -> None:
        """Unselect a repository (visibility must be `selected`)."""
        group = self._selected(org, group_id)
        if repo_id in group.selected_repository_ids:
            group.selected_repository_ids.remove(repo_id)

    def _groups(self, org: str) -> dict[int, RunnerGroup]:
        groups = self._by_org.get(org)
        if groups is None:
            raise NotFound()
        return groups

    def _selected(self, org: str, group_id: int) -> RunnerGroup:
        group = self.get(org, group_id)
        if group.visibility != "selected":
            raise ValidationFailed(
                "The runner group must have visibility set to 'selected' to manage its"
                " repositories."
            )
        return group

    def _check_name(self, org: str, name: str, current: RunnerGroup | None) -> None:
        if not name.strip():
            raise ValidationFailed("Invalid request.\n\nThe runner group name cannot be empty.")
        taken = self.find(org, name)
        if taken is not None and taken is not current:
            raise Conflict(f"Already exists - A runner group with the name {name} already exists.")
