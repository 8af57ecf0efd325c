"""Steps for features/reliability/secret_rotation.feature: README "Rotating the webhook secret"."""

from __future__ import annotations

from behave import given, then, when
from behave.runner import Context

from simulator.harness import rotation_story


@given("the dispatcher is restarted with a new webhook secret, the old one as the previous")
def restarted_with_both_secrets(context: Context) -> None:
    """GITHUB_WEBHOOK_SECRET is a new secret, GITHUB_WEBHOOK_SECRET_PREVIOUS the hook's."""
    rotation_story.restart_dispatcher(context.world, previous=True)


@when("the dispatcher is restarted without the old secret")
def restarted_with_new_secret_only(context: Context) -> None:
    """GITHUB_WEBHOOK_SECRET is the new secret; GITHUB_WEBHOOK_SECRET_PREVIOUS is not set."""
    rotation_story.restart_dispatcher(context.world, previous=False)


@when('"rod hooks sync --reset-secret" gives the webhook the new secret')
def hook_given_new_secret(context: Context) -> None:
    """`rod hooks sync` with the new GITHUB_WEBHOOK_SECRET updates the one hook, and only it."""
    rotation_story.reset_hook_secret(context.world)


@when("a queued job signed with the old secret is posted to the dispatcher")
def posted_signed_with_old_secret(context: Context) -> None:
    """A `workflow_job` queued event, signed with the secret the hook held before."""
    rotation_story.post_signed_with_old(context.world)


@then("the dispatcher took every delivery, each counted as signed with the old secret")
def took_every_delivery_signed_with_old(context: Context) -> None:
    """Every delivery since the restart answered 2xx; each counted in
    rod_webhook_previous_secret_total."""
    rotation_story.expect_taken(context.world)


@then(
    "the dispatcher took every delivery, none since the reset counted as signed with the old secret"
)
def took_every_delivery_signed_with_new(context: Context) -> None:
    """Every delivery since the restart answered 2xx; rod_webhook_previous_secret_total counts
    only those GitHub sent before the hook's secret was reset."""
    world = context.world
    rotation_story.expect_taken(world, signed_with_old=world.signed_with_old)


@then("the dispatcher answers 401 and asks Nomad for nothing more")
def refused_with_old_secret(context: Context) -> None:
    """401, and Nomad was asked for no dispatch since."""
    rotation_story.expect_refused(context.world)
