"""Tests for runners_on_demand.hooks.status: a hook's recent deliveries, and which to redeliver."""

from __future__ import annotations

from typing import Any

from runners_on_demand.hooks.status import summarize

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z


def delivery(
    n: int, guid: str, code: int, *, event: str = "workflow_job", at: str = "2027-01-15T07:00:00Z"
) -> dict[str, Any]:
    status = "OK" if 200 <= code < 300 else f"Invalid HTTP Response: {code}"
    return {
        "id": n,
        "guid": guid,
        "status_code": code,
        "status": status,
        "event": event,
        "action": "queued",
        "delivered_at": at,
    }


class TestSummarize:
    def test_counts_and_the_last_ones(self) -> None:
        listed = [delivery(3, "b", 503), delivery(2, "a", 202), delivery(1, "p", 200, event="ping")]
        status = summarize("o/a", 7, listed, now=NOW)
        assert (status.read, status.ok, status.failed) == (3, 2, 1)
        assert status.last == listed[0] and status.last_failure == listed[0]
        assert status.lines() == [
            "o/a hook 7: 3 deliveries read, 2 OK, 1 failed; last 2027-01-15T07:00:00Z "
            "workflow_job/queued: 503 Invalid HTTP Response: 503",
            "  last failure 2027-01-15T07:00:00Z workflow_job/queued: 503 Invalid HTTP Response: "
            "503",
            "  1 never acknowledged (--redeliver-failed)",
        ]

    def test_only_events_never_acknowledged_are_redelivered_once_each(self) -> None:
        listed = [
            delivery(6, "c", 0),  # failed twice: redeliver the newest try only
            delivery(5, "c", 503),
            delivery(4, "b", 202),  # redelivered with success already
            delivery(3, "b", 503),
            delivery(2, "p", 0, event="ping"),  # not a job
            delivery(1, "old", 503, at="2027-01-11T07:00:00Z"),  # past GitHub's 3 days
        ]
        status = summarize("o/a", 7, listed, now=NOW)
        assert [d["id"] for d in status.unacknowledged] == [6]

    def test_no_deliveries(self) -> None:
        assert summarize("o", 1, [], now=NOW).lines() == ["o hook 1: no deliveries yet"]
