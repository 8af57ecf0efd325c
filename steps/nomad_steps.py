"""Steps about demand and the cluster: jobs in flight, children and allocations on Nomad."""

from __future__ import annotations

from behave import given, then, when
from behave.runner import Context

from simulator.harness import story
from simulator.harness.github_client import ScriptedJob

# Different label sets, so each job needs a runner of its own kind.
LABEL_SETS = (
    ("self-hosted", "linux", "x64"),
    ("self-hosted", "linux", "arm64"),
    ("self-hosted", "linux", "gpu"),
)


@given("a pull request has started {count:d} jobs on self-hosted runners")
def pull_request_started_jobs(context: Context, count: int) -> None:
    """Each job of a pull request, labels differing, was picked up by a runner of its own."""
    world = context.world
    jobs = [
        ScriptedJob(f"job-{n}", LABEL_SETS[n % len(LABEL_SETS)], world.job_seconds)
        for n in range(1, count + 1)
    ]
    for job in story.trigger_run(world, jobs):
        child = story.await_child(world, job)
        story.await_ran_on_child_runner(world, job, child)


@given("there are no jobs currently scheduled by workflows")
def no_jobs_scheduled(context: Context) -> None:
    """GitHub lists no workflow run queued or in progress."""
    story.await_no_scheduled_jobs(context.world)


@when("the number of workflow jobs is zero")
def number_of_jobs_is_zero(context: Context) -> None:
    """Every job of every run is completed."""
    unfinished = story.unfinished_jobs(context.world)
    assert not unfinished, f"jobs not completed: {[(j.id, j.status) for j in unfinished]}"


@then("the number of running runners on the cluster is zero")
def running_runners_zero(context: Context) -> None:
    """Zero runners registered on GitHub and zero pending or running allocations on Nomad."""
    snapshot = story.await_drained(context.world)
    assert snapshot.children, "no runner ever ran on the cluster, so zero proves nothing"
