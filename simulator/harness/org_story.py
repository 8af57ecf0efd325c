"""What the organization steps expect, beyond story.py: the runner group and who it serves.

Runs on the organization stack (org_stack.py); the rest of the story (a run in the scenario's
repository, the org hook's delivery and answer, the Nomad child, the runner) is story.py's.
"""

from __future__ import annotations

from collections.abc import Sequence

from simulator.harness import story
from simulator.harness.observe import JobView
from simulator.harness.org_stack import ORG, OrgStack
from simulator.harness.world import World


def org_stack(world: World) -> OrgStack:
    """The scenario's stack, which must be the organization stack."""
    stack = world.stack
    assert isinstance(stack, OrgStack), (
        f"this feature needs @fixture.org_stack, the stack is a {type(stack).__name__}"
    )
    return stack


def use_repository(world: World, name: str) -> str:
    """From now on the scenario's jobs run in the organization's repository `name`."""
    org_stack(world)
    world.repo = f"{ORG}/{name}"
    return world.repo


def expect_org_webhook(world: World) -> None:
    """The organization has one active, signed JSON hook for workflow_job events."""
    hook = story.expect_webhook_for_workflow_jobs(world)
    assert hook["type"] == "Organization", f"hook {hook['id']} is a {hook['type']} hook"


def expect_group_serves_only(world: World, group: str, names: Sequence[str]) -> None:
    """The org's runner group `group` allows exactly the repositories `names`."""
    github = org_stack(world).github
    found = [g for g in github.list_runner_groups(ORG) if g["name"] == group]
    assert len(found) == 1, f"{ORG} has {len(found)} runner groups named {group!r}"
    assert found[0]["visibility"] == "selected", f"{group} is visible to {found[0]['visibility']}"
    repos = github.list_runner_group_repos(ORG, int(found[0]["id"]))
    served = sorted(repo["full_name"] for repo in repos)
    assert served == sorted(f"{ORG}/{name}" for name in names), f"{group} serves {served}"


def await_org_runner_ran(world: World, job: JobView, group: str) -> JobView:
    """The job ran on the runner its Nomad child started: an org runner of `group`."""
    child = story.await_child(world, job)
    story.await_registered_runner(world, job, child)  # listed at the organization
    ran = story.await_ran_on_child_runner(world, job, child)
    assert ran.runner_group_name == group, (
        f"job {job.id} ran on {ran.runner_name} of runner group {ran.runner_group_name!r}"
    )
    return ran
