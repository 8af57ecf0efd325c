"""Steps about an organization: its webhook, its runner group, and jobs in its repositories."""

from __future__ import annotations

from behave import given, then, when
from behave.runner import Context

from runners_on_demand.decision import IgnoreReason
from simulator.harness import org_story, story
from simulator.harness.github_client import ScriptedJob


@given("there is an organization webhook for workflow jobs")
def org_webhook(context: Context) -> None:
    """The org has one active, signed JSON hook for workflow_job events to a ready dispatcher."""
    org_story.expect_org_webhook(context.world)
    story.expect_dispatcher_ready(context.world)


@given('the runner group "{group}" allows the repositories "{first}" and "{second}"')
def group_allows(context: Context, group: str, first: str, second: str) -> None:
    """GitHub lists the group with exactly these repositories selected."""
    org_story.expect_group_serves_only(context.world, group, (first, second))


@when('a job in the repository "{repo}" requests a runner with the tag "{tag}"')
def job_in_repository(context: Context, repo: str, tag: str) -> None:
    """A run in that repository of the org has one job asking for the tag; the org hook told
    the dispatcher."""
    world = context.world
    org_story.use_repository(world, repo)
    job = ScriptedJob("build", (tag, "linux"), world.job_seconds)
    (world.job,) = story.trigger_run(world, [job])
    story.expect_delivered(world, world.job)


@then('an organization runner in the runner group "{group}" runs the job')
def org_runner_runs_job(context: Context, group: str) -> None:
    """A Nomad child made an org runner in the group, and the job ran on that very runner."""
    world = context.world
    org_story.await_org_runner_ran(world, world.followed_job(), group)


@then("no runner is created, and the dispatcher says the runner group does not allow it")
def refused_by_the_group(context: Context) -> None:
    """The dispatcher answered the delivery with the reason; no Nomad child, no runner."""
    world = context.world
    reason = story.expect_ignored(world, world.followed_job())
    assert reason == IgnoreReason.RUNNER_GROUP_REFUSES, f"the dispatcher answered {reason!r}"
    story.expect_no_runner(world, world.followed_job())
