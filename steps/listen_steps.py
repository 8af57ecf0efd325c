"""Steps for features/listen/: the listener's crashes, expired tokens, lost polls, reassignment."""

from __future__ import annotations

from behave import given, then, when
from behave.runner import Context

from simulator.harness import faults, listen_story, reliable_story

# Longer than the suite's listener waits for an answer to a poll (intake.POLL_TIMEOUT).
LOST_POLL_SECONDS = 8.0


@when("the listener is killed with SIGKILL while {count:d} of its runners wait for Nomad")
def listener_killed_mid_burst(context: Context, count: int) -> None:
    """SIGKILL once `count` registered runners have no Nomad child; some jobs have none yet."""
    world = context.world
    reliable_story.kill_while_runners_wait(world, count, listen_story.listener(world))


@when("the listener is started again")
def listener_started_again(context: Context) -> None:
    """The killed `rod listen` starts on the same port; it knows nothing of its past life."""
    process = listen_story.listener(context.world)
    assert not process.alive(), "the listener is still running"
    process.start(context.world.timeout)


@then("GitHub refuses it a session while the old one lives")
def session_refused(context: Context) -> None:
    """The new listener's session request got 409; it waits, not ready, and does not exit."""
    listen_story.await_session_refused(context.world)
    assert listen_story.listener(context.world).alive(), "the listener gave up"


@when("the old session expires")
def old_session_expires(context: Context) -> None:
    """GitHub's clock passes the crashed listener's session timeout."""
    listen_story.expire_old_session(context.world)


@given("the listener's tokens expire while it waits for a message")
def tokens_expire(context: Context) -> None:
    """The queue token and the admin token expire by GitHub's clock during a held poll."""
    world = context.world
    world.metric_before = listen_story.listener_metric(
        world, "rod_listen_sessions_total", outcome="refreshed"
    )
    world.session_id = listen_story.expire_tokens(world)


@then("the listener renewed its tokens and kept its session")
def tokens_renewed(context: Context) -> None:
    """A PATCH of the session gave a new queue token; the session is the same one."""
    world = context.world
    listen_story.await_listener_metric(
        world, "rod_listen_sessions_total", world.metric_before, outcome="refreshed"
    )
    assert listen_story.session_id(world) == world.session_id, "a new session was opened"
    registrations = faults.github_calls(
        world.stack.endpoints.github_url, "POST", "/api/v3/actions/runner-registration"
    )
    assert registrations >= 2, f"the admin token was fetched {registrations} times"


@given("GitHub never answers the listener's next poll")
def next_poll_lost(context: Context) -> None:
    """The next GET of the message queue hangs longer than the listener waits for it."""
    world = context.world
    world.metric_before = listen_story.listener_metric(
        world, "rod_listen_retries_total", reason="ReadTimeout"
    )
    listen_story.lose_next_poll(world, LOST_POLL_SECONDS)


@then("the listener gave up on that poll and polled again")
def gave_up_on_poll(context: Context) -> None:
    """The listener's poll timed out and it asked again."""
    world = context.world
    listen_story.await_listener_metric(
        world, "rod_listen_retries_total", world.metric_before, reason="ReadTimeout"
    )


@given("Nomad holds the next dispatch request for {seconds:d} seconds")
def nomad_holds_next_dispatch(context: Context, seconds: int) -> None:
    """The next dispatch waits, then fails; the pipeline dispatches again afterwards."""
    url = context.world.stack.endpoints.nomad_url
    faults.add_nomad_fault(url, faults.DISPATCH_ROUTE, 1, 503, float(seconds))


@when("GitHub takes the job back before a runner picks it up and offers it again")
def job_reassigned(context: Context) -> None:
    """JobCompleted "canceled" for the assigned job, then JobAvailable with the same request."""
    world = context.world
    listen_story.reassign_before_pickup(world, world.followed_job(), "available")


@then("the listener acquires the job again")
def acquired_again(context: Context) -> None:
    """The job's runner request went back to available and the listener acquired it again."""
    world = context.world
    listen_story.await_acquired_again(world, world.followed_job())
