"""Steps about the runners themselves: created from the webhook, used once, or not made at all."""

from __future__ import annotations

from behave import given, then
from behave.runner import Context

from simulator.harness import story
from simulator.harness.github_client import ScriptedJob


@then("a runner is created using the webhook payload")
def runner_created_from_payload(context: Context) -> None:
    """One Nomad child carries the webhook's data; its runner is registered with the job labels."""
    world = context.world
    job = world.followed_job()
    child = story.await_child(world, job)
    story.expect_payload_from_webhook(world, job, child)
    story.await_registered_runner(world, job, child)


@then("no runner is created using the webhook payload")
def no_runner_created(context: Context) -> None:
    """The dispatcher declined the delivery with a reason; no Nomad child, no runner."""
    world = context.world
    job = world.followed_job()
    story.expect_ignored(world, job)
    story.expect_no_runner(world, job)


@then("the runner created is used by the job")
def runner_used_by_job(context: Context) -> None:
    """The job ran on the very runner its Nomad child started (runner_name and runner_id)."""
    world = context.world
    job = world.followed_job()
    child = story.await_child(world, job)
    runner = story.await_registered_runner(world, job, child)
    picked = story.await_ran_on_child_runner(world, job, child)
    assert picked.runner_id == runner.id


@given("workflow job is correctly picked up by a runner")
def job_picked_up_by_runner(context: Context) -> None:
    """A job runs, busy, on the runner its Nomad child started."""
    world = context.world
    # Long enough to see the runner busy before the job completes in the next step.
    job = ScriptedJob("package", ("self-hosted", "linux"), duration_seconds=3 * world.job_seconds)
    (world.job,) = story.trigger_run(world, [job])
    child = story.await_child(world, world.job)
    runner = story.await_registered_runner(world, world.job, child)
    story.await_ran_on_child_runner(world, world.job, child)
    story.await_runner_busy(world, runner)


@then("the runner is deregistered and removed from the repository")
def runner_deregistered_and_removed(context: Context) -> None:
    """GitHub no longer knows the runner, and its allocation ended complete."""
    world = context.world
    assert world.runner is not None, "no runner was followed"
    story.await_runner_removed(world, world.runner)
    child = story.await_allocations_finished(world, world.followed_child())
    statuses = [allocation.client_status for allocation in child.allocations]
    assert statuses == ["complete"], f"{child.id} allocations ended {statuses}"
