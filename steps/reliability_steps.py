"""Steps for features/reliability/: faults in GitHub and Nomad, replicas, forged webhooks."""

from __future__ import annotations

from behave import given, step, then, when
from behave.runner import Context

from simulator.harness import faults, reliable_story, story
from simulator.harness.github_client import ScriptedJob

SELF_HOSTED_LINUX = ("self-hosted", "linux", "x64")
# Longer than it takes to trigger a run and cancel its job (milliseconds).
LATE_WEBHOOK_SECONDS = 1.0
# Nomad's answer while it has no leader (https://developer.hashicorp.com/nomad/api-docs).
UNAVAILABLE = 503
# Longer than it takes to see the hanging dispatches and kill the dispatcher (under a second).
HANG_SECONDS = 15.0


@given("GitHub drops the next webhook")
def github_drops_next_webhook(context: Context) -> None:
    """The next delivery is logged by GitHub but never sent, as when GitHub skips one."""
    faults.add_webhook_fault(context.world.stack.endpoints.github_url, "drop")


@given("GitHub delivers the next webhook twice")
def github_delivers_next_webhook_twice(context: Context) -> None:
    """The next delivery is sent twice with the same GUID."""
    faults.add_webhook_fault(context.world.stack.endpoints.github_url, "duplicate")


@given("GitHub delivers the next webhook late")
def github_delivers_next_webhook_late(context: Context) -> None:
    """The next delivery waits a moment before it is sent; later ones do not wait for it."""
    url = context.world.stack.endpoints.github_url
    faults.add_webhook_fault(url, "delay", delay=LATE_WEBHOOK_SECONDS)


@given("Nomad answers {status:d} to the next {count:d} dispatch requests")
def nomad_refuses_dispatches(context: Context, status: int, count: int) -> None:
    """Nomad's dispatch endpoint fails `count` times in a row, then works again."""
    assert status >= 500, f"an outage answers 5xx, not {status}"
    world = context.world
    faults.add_nomad_fault(world.stack.endpoints.nomad_url, faults.DISPATCH_ROUTE, count, status)
    world.outage = (count, status)


@given("Nomad hangs on the next {count:d} dispatch requests")
def nomad_hangs_on_dispatches(context: Context, count: int) -> None:
    """The next `count` dispatch requests wait, then fail; the rest are answered at once."""
    url = context.world.stack.endpoints.nomad_url
    faults.add_nomad_fault(url, faults.DISPATCH_ROUTE, count, UNAVAILABLE, HANG_SECONDS)


@given("two replicas of the dispatcher receive every webhook")
def two_replicas_receive_every_webhook(context: Context) -> None:
    """A second replica starts, and a second signed hook delivers every event to it as well."""
    world = context.world
    story.expect_webhook_for_workflow_jobs(world)
    added = reliable_story.add_replica(world)
    hooks = reliable_story.replica_hook_ids(world)
    assert hooks == [world.stack.hook_id, added], f"hooks per replica: {hooks}"


@step("a job is queued for a self-hosted runner")
def job_queued_for_self_hosted_runner(context: Context) -> None:
    """A push starts a workflow with one job on [self-hosted, linux, x64]; GitHub lists it."""
    world = context.world
    job = ScriptedJob("build", SELF_HOSTED_LINUX, duration_seconds=world.job_seconds)
    (world.job,) = story.trigger_run(world, [job], event="push")
    assert world.job.status == "queued", f"job {world.job.id} is {world.job.status}"


@when("a pull request starts {count:d} jobs on self-hosted runners")
def pull_request_starts_jobs(context: Context, count: int) -> None:
    """Jobs with the same labels, so any of their runners may take any of them."""
    world = context.world
    jobs = [ScriptedJob(f"job-{n}", SELF_HOSTED_LINUX, world.job_seconds) for n in range(count)]
    assert len(story.trigger_run(world, jobs)) == count


@when("the dispatcher is killed with SIGKILL while {count:d} of its runners wait for Nomad")
def dispatcher_killed_mid_burst(context: Context, count: int) -> None:
    """SIGKILL once `count` registered runners have no Nomad child; some jobs have none yet."""
    reliable_story.kill_while_runners_wait(context.world, count)


@when("the dispatcher is started again")
def dispatcher_started_again(context: Context) -> None:
    """The killed `rod serve` starts on the same port and answers /readyz."""
    reliable_story.restart_first_replica(context.world)


@when("its webhook delivery is redelivered")
def webhook_delivery_redelivered(context: Context) -> None:
    """Redeliver the answered `queued` delivery through GitHub's REST API; it is answered 2xx."""
    world = context.world
    redelivery = reliable_story.redeliver_queued(world, world.followed_job())
    assert redelivery["redelivery"], f"delivery {redelivery['id']} is not a redelivery"


@when("the job is cancelled before a runner picks it up")
def job_cancelled_before_pickup(context: Context) -> None:
    """GitHub shows the job completed/cancelled, no runner; its queued webhook is yet to come."""
    world = context.world
    reliable_story.cancel(world, world.followed_job())


@when("someone posts a queued job to the dispatcher signed with {forgery}")
def forged_webhook_posted(context: Context, forgery: str) -> None:
    """A `workflow_job` queued event for a job GitHub never had, signed the forger's way."""
    world = context.world
    endpoints = world.stack.endpoints
    forged = faults.ForgedWebhook(world.repo, job_id=424242, labels=SELF_HOSTED_LINUX)
    response = faults.post_forged(endpoints.webhook_url, endpoints.webhook_secret, forged, forgery)
    world.forged = (forgery, world.tape.record(response, f"forged · {forgery}"))


@then("the dispatcher answers 401 and nothing is dispatched")
def forged_refused(context: Context) -> None:
    """401; GitHub was asked for no runner credential and Nomad for no dispatch."""
    world = context.world
    assert world.forged is not None, "no forged webhook was posted"
    reliable_story.expect_forged_refused(world, *world.forged)


@then("GitHub delivered the webhook twice")
def delivered_twice(context: Context) -> None:
    """Two answered (2xx) deliveries of the job's queued event, with one GUID."""
    world = context.world
    reliable_story.await_deliveries(world, world.followed_job(), count=2)


@then("the dispatcher never hears of the job")
def dispatcher_never_hears(context: Context) -> None:
    """GitHub logged the job's queued delivery as dropped: none reached the dispatcher."""
    world = context.world
    reliable_story.expect_dropped(world, world.followed_job())


@then("the reconciler gives the job a runner")
def reconciler_gives_runner(context: Context) -> None:
    """A Nomad child carries the job's data, and a reconciler says it dispatched it."""
    world = context.world
    job = world.followed_job()
    child = story.await_child(world, job)
    story.expect_payload_from_webhook(world, job, child)
    dispatched = reliable_story.reconciler_actions(world, "dispatch")
    assert dispatched >= 1, f"{child.id} was dispatched, but no reconciler reports a dispatch"


@then("the job runs on exactly one runner")
@then("every job runs on exactly one runner of its own")
def one_runner_per_job(context: Context) -> None:
    """Each job completed on a fresh runner of ours; one Nomad child per job, none extra."""
    reliable_story.await_one_runner_per_job(context.world)


@then("every job runs once on a fresh runner, and no runner starts without a job")
def served_once(context: Context) -> None:
    """As many Nomad children as jobs; each job ran on one of their runners, each runner once."""
    reliable_story.await_served_once(context.world)


@then("no runner is left for the job, and nothing runs on the cluster")
def no_runner_left(context: Context) -> None:
    """No runner, no live allocation, no live Nomad child of the cancelled job, which never ran.

    (Not "the number of running runners is zero": a runner may never have been made for it.)"""
    reliable_story.await_nothing_left_for(context.world, context.world.followed_job())


@then("the late queued webhook of the job started no runner")
def late_queued_started_nothing(context: Context) -> None:
    """Its `queued` delivery came after the cancellation and was answered without a runner."""
    world = context.world
    reliable_story.expect_late_queued_started_nothing(world, world.followed_job())


@then("every webhook was acknowledged")
def every_webhook_acknowledged(context: Context) -> None:
    """Each job's queued event was answered 2xx by every replica that has a hook."""
    world = context.world
    jobs = world.stack.observer.jobs(world.run_ids)
    assert jobs, "no job was started"
    for hook_id in reliable_story.replica_hook_ids(world):
        for job in jobs:
            reliable_story.await_deliveries(world, job, count=1, hook_id=hook_id)


@then("Nomad refused those dispatch requests before it dispatched again")
def nomad_refused_then_dispatched(context: Context) -> None:
    """Nomad's request log shows the injected failures, then a successful dispatch."""
    world = context.world
    assert world.outage is not None, "no Nomad outage was set up"
    reliable_story.expect_nomad_refused(world, *world.outage)
