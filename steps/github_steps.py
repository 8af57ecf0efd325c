"""Steps that act on GitHub: webhooks, pull requests, workflow runs and their jobs."""

from __future__ import annotations

from behave import given, when
from behave.runner import Context

from simulator.harness import story
from simulator.harness.github_client import ScriptedJob

SELF_HOSTED_LINUX = ("self-hosted", "linux", "x64")
# Served by GitHub's own runners: https://docs.github.com/actions/using-github-hosted-runners
GITHUB_HOSTED = "ubuntu-latest"


def _job(context: Context, name: str, labels: tuple[str, ...]) -> ScriptedJob:
    return ScriptedJob(name, labels, duration_seconds=context.world.job_seconds)


@given("there is a webhook for pull requests")
def webhook_for_pull_requests(context: Context) -> None:
    """GitHub lists an active, signed JSON hook for workflow_job events to a ready dispatcher."""
    story.expect_webhook_for_workflow_jobs(context.world)
    story.expect_dispatcher_ready(context.world)


@when("a pull request with an action using self-hosted runner is created")
def pull_request_with_self_hosted_action(context: Context) -> None:
    """A pull request starts a workflow whose job runs on [self-hosted, linux, x64]."""
    world = context.world
    (world.job,) = story.trigger_run(world, [_job(context, "build", SELF_HOSTED_LINUX)])
    story.expect_delivered(world, world.job)


@given("a job is scheduled")
def a_job_is_scheduled(context: Context) -> None:
    """The stage is set: the hook is in place and nothing is queued or running yet."""
    story.expect_webhook_for_workflow_jobs(context.world)
    story.expect_no_demand(context.world)


@when('the job requests a runner with the tag "{tag}"')
def job_requests_tag(context: Context, tag: str) -> None:
    """The workflow's job asks for a runner with this label; the dispatcher is told."""
    world = context.world
    (world.job,) = story.trigger_run(world, [_job(context, "test", (tag, "linux"))])
    assert tag in world.job.labels
    story.expect_delivered(world, world.job)


@when('the job requests a runner with a tag not "{tag}"')
def job_requests_other_tag(context: Context, tag: str) -> None:
    """The workflow's job asks only for ubuntu-latest; the dispatcher is told."""
    world = context.world
    assert GITHUB_HOSTED.lower() != tag.lower()
    (world.job,) = story.trigger_run(world, [_job(context, "lint", (GITHUB_HOSTED,))])
    story.expect_delivered(world, world.job)


@given("a Github Actions workflow is triggered")
def workflow_is_triggered(context: Context) -> None:
    """A push starts a workflow with one self-hosted job; GitHub lists it."""
    world = context.world
    (world.job,) = story.trigger_run(
        world, [_job(context, "deploy", SELF_HOSTED_LINUX)], event="push"
    )


@when("a job is scheduled as part of the workflow")
def job_is_scheduled_in_workflow(context: Context) -> None:
    """The job's queued event was delivered to the dispatcher and accepted."""
    world = context.world
    job = world.followed_job()
    assert job.run_id in world.run_ids, f"job {job.id} belongs to run {job.run_id}"
    story.expect_delivered(world, job, action="queued")


@when("the job completes")
def the_job_completes(context: Context) -> None:
    """GitHub reports the job completed with success."""
    world = context.world
    story.await_job_completed(world, world.followed_job(), "success")
