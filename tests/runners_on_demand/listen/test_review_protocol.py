"""Review findings on `rod listen`'s protocol handling."""

from __future__ import annotations

import httpx
import pytest

from runners_on_demand.errors import GitHubRateLimited, UpstreamError
from runners_on_demand.listen.client import ScaleSetClient
from runners_on_demand.listen.protocol import message_of
from runners_on_demand.listen.scope import parse_config_url
from runners_on_demand.ports.github_auth import PatAuth
from tests.runners_on_demand.listen.test_fleet import NOW, child, fleet


def test_a_message_without_statistics_does_not_drop_demand_to_zero() -> None:
    # Two runners kept for two assigned jobs.
    kept = fleet(assigned=2)
    live = [child("rod-ss7-aaaa0001"), child("rod-ss7-aaaa0002")]
    assert kept.plan(live, set(), NOW).retire == ()
    # ARC's listener rejects such a message ("invalid message: statistics is nil"); rod reads it
    # as zero demand (Listener._next_message assigns message.statistics to the fleet).
    try:
        message = message_of(
            {"messageId": 5, "messageType": "RunnerScaleSetJobMessages", "body": "[]"}, "test"
        )
    except UpstreamError:
        return  # rejected, as ARC does
    kept.statistics = message.statistics
    assert kept.plan(live, set(), NOW).retire == (), "idle runners retired on a missing count"


async def test_a_rest_rate_limit_on_the_auth_chain_is_waited_out() -> None:
    now = 1_800_000_000.0
    reset = now + 3000

    def handler(request: httpx.Request) -> httpx.Response:
        # GitHub's primary rate limit: 403, remaining 0, reset in 50 minutes (github-api.md §6).
        return httpx.Response(
            403,
            json={"message": "API rate limit exceeded for user ID 1."},
            headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(reset))},
        )

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        client = ScaleSetClient(
            http, parse_config_url("https://github.com/acme/app"), PatAuth("ghp_x"),
            clock=lambda: now,
        )
        with pytest.raises(UpstreamError) as caught:
            await client.runner_group("Default")
    error = caught.value
    # Listener.run waits max(retry_after, <=30 s) before setting up again.
    assert isinstance(error, GitHubRateLimited), f"{type(error).__name__}: {error}"
    assert error.retry_after >= 2900
