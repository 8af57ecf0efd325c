"""Organization operations of the backend: orgs, their repositories and runner groups, as a mixin.

Facts relied on (the OpenAPI description of `/orgs/{org}`, `/users/{username}/repos` and
`/orgs/{org}/actions/runner-groups...`; rules of the groups themselves are in runner_groups.py):
org names are not case sensitive; `/users/{username}/repos` lists public repositories only;
a runner group's repositories and runners are named by id, and a runner removed from a group
returns to the default group. This mixin is also the Actions queue's `Placement`: a repository
runner serves its repository, an org runner the repositories its group allows.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from simulator.github.errors import NotFound, ValidationFailed
from simulator.github.runner_groups import (
    DEFAULT_GROUP_ID,
    DEFAULT_GROUP_NAME,
    RunnerGroup,
    RunnerGroups,
)

if TYPE_CHECKING:
    from simulator.github.actions import Actions, Job, Runner
    from simulator.github.representations import Account, Repo
    from simulator.github.scaleset_models import ScaleSetBackend

# https://docs.github.com/organizations/collaborating-with-groups-in-organizations (login rules)
LOGIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")


class OrgOperations:
    """create_org, get_org, repository listings, runner groups and who may take which job."""

    lock: threading.RLock
    accounts: dict[str, Account]
    repos: dict[str, Repo]
    actions: Actions
    runner_groups: RunnerGroups
    scalesets: ScaleSetBackend

    if TYPE_CHECKING:

        def _account(self, login: str, kind: str) -> Account: ...

    # --- organizations and their repositories ----------------------------------------------------

    def create_org(self, login: str) -> Account:
        """(control plane) A new organization with its default runner group."""
        if not LOGIN.match(login):
            raise ValidationFailed(f"{login!r} is not a valid organization login")
        with self.lock:
            if any(a.login.casefold() == login.casefold() for a in self.accounts.values()):
                raise ValidationFailed(f"login {login} is already taken")
            org = self._account(login, "Organization")
            self.runner_groups.add_org(org.login)
            return org

    def get_org(self, org: str) -> Account:
        """An organization, found case-insensitively; 404 for a user or an unknown login."""
        with self.lock:
            for account in self.accounts.values():
                if account.type == "Organization" and account.login.casefold() == org.casefold():
                    return account
            raise NotFound()

    def list_org_repos(self, org: str) -> list[Repo]:
        """Repositories of one organization, by full name; 404 for an unknown organization."""
        with self.lock:
            login = self.get_org(org).login
            return sorted(
                (r for r in self.repos.values() if r.owner.login == login),
                key=lambda r: r.full_name,
            )

    def list_account_repos(self, username: str) -> list[Repo]:
        """Public repositories a user or an organization owns, by full name; 404 if unknown."""
        with self.lock:
            account = next(
                (a for a in self.accounts.values() if a.login.casefold() == username.casefold()),
                None,
            )
            if account is None:
                raise NotFound()
            owned = [r for r in self.repos.values() if r.owner is account and not r.private]
            return sorted(owned, key=lambda r: r.full_name)

    def _org_repo(self, org: str, repo_id: int) -> Repo:
        """A repository of `org` by id; 404 if the org has none with that id."""
        for repo in self.repos.values():
            if repo.id == repo_id and repo.owner.login == org:
                return repo
        raise NotFound()

    # --- runner groups -------------------------------------------------------------------------

    def list_runner_groups(
        self, org: str, *, visible_to_repository: str | None = None
    ) -> list[RunnerGroup]:
        """An org's runner groups, or only those that repository (a name) may use."""
        with self.lock:
            login = self.get_org(org).login
            groups = self.runner_groups.list(login)
            if visible_to_repository is None:
                return groups
            repo = self.repos.get(f"{login}/{visible_to_repository}")
            if repo is None:
                return []
            return [g for g in groups if g.allows(repo_id=repo.id, private=repo.private)]

    def create_runner_group(
        self,
        org: str,
        *,
        name: str,
        selected_repository_ids: Iterable[int] = (),
        runners: Iterable[int] = (),
        **policy: Any,
    ) -> RunnerGroup:
        """A new group (201) with its selected repositories and the runners moved into it;
        `policy`: visibility, allows_public_repositories and the workflow restrictions."""
        with self.lock:
            login = self.get_org(org).login
            repo_ids = [self._org_repo(login, i).id for i in selected_repository_ids]
            moved = [self.actions.get_runner(login, i) for i in runners]
            group = self.runner_groups.create(
                login, name=name, selected_repository_ids=repo_ids, **policy
            )
            for runner in moved:
                runner.group_id = group.id
            return group

    def get_runner_group(self, org: str, group_id: int) -> RunnerGroup:
        """One group; 404 if the org has none with that id."""
        with self.lock:
            return self.runner_groups.get(self.get_org(org).login, group_id)

    def update_runner_group(
        self, org: str, group_id: int, *, name: str, **policy: Any
    ) -> RunnerGroup:
        """PATCH a group's name and policy (see `create_runner_group`)."""
        with self.lock:
            login = self.get_org(org).login
            return self.runner_groups.update(login, group_id, name=name, **policy)

    def delete_runner_group(self, org: str, group_id: int) -> None:
        """Remove a group; its runners return to the default group."""
        with self.lock:
            login = self.get_org(org).login
            self.runner_groups.delete(login, group_id)
            for runner in self.actions.list_runners(login):
                if runner.group_id == group_id:
                    runner.group_id = DEFAULT_GROUP_ID

    def list_runner_group_repos(self, org: str, group_id: int) -> list[Repo]:
        """The repositories selected for a group."""
        with self.lock:
            login = self.get_org(org).login
            group = self.runner_groups.get(login, group_id)
            return [self._org_repo(login, i) for i in group.selected_repository_ids]

    def set_runner_group_repos(self, org: str, group_id: int, repo_ids: Iterable[int]) -> None:
        """Replace the selected repositories; 404 for a repository id not in the org."""
        with self.lock:
            login = self.get_org(org).login
            wanted = [self._org_repo(login, i).id for i in repo_ids]
            self.runner_groups.set_repositories(login, group_id, wanted)

    def add_runner_group_repo(self, org: str, group_id: int, repo_id: int) -> None:
        """Select one more repository."""
        with self.lock:
            login = self.get_org(org).login
            self.runner_groups.add_repository(login, group_id, self._org_repo(login, repo_id).id)

    def remove_runner_group_repo(self, org: str, group_id: int, repo_id: int) -> None:
        """Unselect a repository."""
        with self.lock:
            login = self.get_org(org).login
            self.runner_groups.remove_repository(login, group_id, self._org_repo(login, repo_id).id)

    def list_runner_group_runners(self, org: str, group_id: int) -> list[Runner]:
        """The org runners in a group, oldest first."""
        with self.lock:
            login = self.get_org(org).login
            group = self.runner_groups.get(login, group_id)
            return [r for r in self.actions.list_runners(login) if r.group_id == group.id]

    def set_runner_group_runners(self, org: str, group_id: int, runner_ids: Iterable[int]) -> None:
        """Make exactly these runners the group's; the ones dropped return to the default group."""
        with self.lock:
            login = self.get_org(org).login
            group = self.runner_groups.get(login, group_id)
            wanted = {self.actions.get_runner(login, i).id for i in runner_ids}
            for runner in self.actions.list_runners(login):
                if runner.id in wanted:
                    runner.group_id = group.id
                elif runner.group_id == group.id:
                    runner.group_id = DEFAULT_GROUP_ID

    def add_runner_group_runner(self, org: str, group_id: int, runner_id: int) -> None:
        """Move an org runner into a group."""
        with self.lock:
            login = self.get_org(org).login
            group = self.runner_groups.get(login, group_id)
            self.actions.get_runner(login, runner_id).group_id = group.id

    def remove_runner_group_runner(self, org: str, group_id: int, runner_id: int) -> None:
        """Return a runner of this group to the default group; 404 if it is not in the group."""
        with self.lock:
            login = self.get_org(org).login
            group = self.runner_groups.get(login, group_id)
            runner = self.actions.get_runner(login, runner_id)
            if runner.group_id != group.id:
                raise NotFound()
            runner.group_id = DEFAULT_GROUP_ID

    # --- Placement: asked by the Actions queue, under the backend's lock ------------------------

    def runner_may_take(self, runner: Runner, job: Job) -> bool:
        """A repository runner serves its repository; an org runner what its group allows.

        A job a runner scale set has taken goes to that scale set's runners only.
        """
        if not self.scalesets.jobs.may_take(runner, job):
            return False
        if "/" in runner.scope:
            return runner.scope == job.repo
        repo = self.repos[job.repo]
        if repo.owner.login != runner.scope:
            return False
        group = self.runner_groups.get(runner.scope, runner.group_id)
        return group.allows(repo_id=repo.id, private=repo.private)

    def runner_group_name(self, runner: Runner) -> str:
        """The name of the runner's group ("Default" for every repository runner)."""
        if "/" in runner.scope:
            return DEFAULT_GROUP_NAME
        return self.runner_groups.get(runner.scope, runner.group_id).name
