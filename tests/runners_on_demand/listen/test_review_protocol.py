"""Review findings on `rod listen`'s protocol handling."""

from __future__ import annotations

from runners_on_demand.errors import UpstreamError
from runners_on_demand.listen.protocol import message_of
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
