"""`rod hooks sync`: read everything, plan (plan.py), then write; bad input writes nothing.

Reading first means every problem with the input (an unknown owner or repository, a token
without admin rights, `--org-hook` for a user) is found before the first change and reported as
a `ConfigError`, one line each. Calls are made one at a time, as GitHub asks of integrations
(https://docs.github.com/rest/using-the-rest-api/best-practices-for-using-the-rest-api#avoid-concurrent-requests).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from runners_on_demand.errors import ConfigError, GitHubError, UpstreamError
from runners_on_demand.hooks.api import HooksApi, Repository
from runners_on_demand.hooks.plan import HookSpec, ListedHook, Step, StepKind, plan_sync

__all__ = ["Listed", "Selection", "apply", "read"]


@dataclass(frozen=True)
class Selection:
    """Which hooks: the owner's repositories (all, or `repos`), or the owner's org hook."""

    owner: str
    repos: tuple[str, ...] = ()  # names or owner/name; empty: every repository (not archived)
    org_hook: bool = False


@dataclass
class Listed:
    """What was read: hooks of the selected targets and, for `--prune`, of the other ones."""

    selected: dict[str, list[ListedHook]] = field(default_factory=dict)
    others: dict[str, list[ListedHook]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)  # repositories prune could not look at

    def plan(self, spec: HookSpec, *, prune: bool, reset_secret: bool) -> list[Step]:
        """The steps that make the selected targets' hooks match `spec`."""
        return plan_sync(self.selected, self.others, spec, prune=prune, reset_secret=reset_secret)


async def read(api: HooksApi, selection: Selection, *, prune: bool) -> Listed:
    """Every hook the plan needs; `ConfigError` for bad input, before anything is changed."""
    owner = selection.owner
    organization = await api.is_organization(owner)
    if selection.org_hook and not organization:
        raise ConfigError(
            [f"{owner} is not an organization the token can see; --org-hook needs one"]
        )
    repos = await api.repositories(owner, organization=organization)
    if not organization and not repos:
        raise ConfigError(
            [
                f"unknown owner {owner}: no organization of that name, and the token sees no "
                f"repository of a user {owner}"
            ]
        )
    chosen = _chosen(owner, selection.repos, repos)
    listed = Listed()
    if selection.org_hook:
        listed.selected[owner] = await _org_hooks(api, owner)
    else:
        refused = [repo.full_name for repo in chosen if not repo.admin]
        if refused:
            more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
            raise ConfigError(
                [f"the token has no admin rights on {refused[0]}{more}; hooks need admin rights"]
            )
        for repo in chosen:
            listed.selected[repo.full_name] = await _repo_hooks(api, repo.full_name)
    if prune:
        for repo in repos:
            if repo.full_name in listed.selected:
                continue
            if not repo.admin or repo.archived:
                listed.skipped.append(repo.full_name)
                continue
            listed.others[repo.full_name] = await _repo_hooks(api, repo.full_name)
    return listed


def _chosen(owner: str, names: Sequence[str], repos: Sequence[Repository]) -> list[Repository]:
    """The repositories named (each must exist), or every one that is not archived."""
    if not names:
        return [repo for repo in repos if not repo.archived]
    by_name = {repo.full_name.lower(): repo for repo in repos}
    chosen = []
    for name in names:
        full_name = name if "/" in name else f"{owner}/{name}"
        repo = by_name.get(full_name.lower())
        if repo is None:
            raise ConfigError([f"unknown repository {full_name} (or the token cannot see it)"])
        chosen.append(repo)
    return chosen


async def _repo_hooks(api: HooksApi, full_name: str) -> list[ListedHook]:
    try:
        return await api.hooks(full_name)
    except GitHubError as error:
        if error.status == 404:  # GitHub hides what a token may not administer
            raise ConfigError(
                [f"cannot list the hooks of {full_name}: GitHub answers 404 (no admin rights?)"]
            ) from None
        raise


async def _org_hooks(api: HooksApi, org: str) -> list[ListedHook]:
    try:
        return await api.hooks(org)
    except GitHubError as error:
        if error.status in (403, 404):
            raise ConfigError(
                [
                    f"cannot manage the hooks of organization {org}: GitHub answers {error.status} "
                    "(the token needs the admin:org_hook scope and to be an owner of the org)"
                ]
            ) from None
        raise


@dataclass(frozen=True)
class Done:
    """A writing step and what became of it ("" when it worked)."""

    step: Step
    error: str = ""


async def apply(api: HooksApi, steps: Sequence[Step], spec: HookSpec, secret: str) -> list[Done]:
    """Carry out every writing step; a failure is noted and the others still happen."""
    done = []
    for step in steps:
        if not step.writes:
            continue
        try:
            if step.kind is StepKind.CREATE:
                await api.create(step.target, spec, secret)
            elif step.kind is StepKind.UPDATE and step.hook_id is not None:
                await api.update(step.target, step.hook_id, spec, secret)
            elif step.kind is StepKind.PRUNE and step.hook_id is not None:
                await api.delete(step.target, step.hook_id)
        except UpstreamError as error:
            done.append(Done(step, str(error)))
            continue
        done.append(Done(step))
    return done
