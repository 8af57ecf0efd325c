"""The edge's quiet lines: written through a logger, the count written an interval later."""

from __future__ import annotations

import asyncio
import logging

import pytest

from runners_on_demand.edge_log import EdgeLog

LOGGER = "tests.edge_log"


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER]


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_flood_is_one_line_then_its_count(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    clock = Clock()
    edge_log = EdgeLog(logging.getLogger(LOGGER), 60.0, clock)
    for i in range(1000):
        edge_log.refused(f"d-{i}", "unverified", "bad_signature", 401, " error=forged")
    edge_log.previous_secret("d-1")
    edge_log.previous_secret("d-2")
    assert lines(caplog) == [
        "delivery d-0 event=unverified outcome=bad_signature status=401 error=forged",
        "delivery d-1 signed with GITHUB_WEBHOOK_SECRET_PREVIOUS",
    ]
    edge_log.summarise()  # as at shutdown
    assert lines(caplog)[2:] == [
        "deliveries refused as bad_signature: 999 more (one such line per 60s)",
        "deliveries signed with GITHUB_WEBHOOK_SECRET_PREVIOUS: 1 more (one such line per 60s)",
    ]
    edge_log.summarise()
    assert len(lines(caplog)) == 4  # nothing left out since


async def test_the_count_is_written_an_interval_after_the_first_left_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    edge_log = EdgeLog(logging.getLogger(LOGGER), 0.01, Clock())
    edge_log.refused("a", "unverified", "too_large", 413, "")
    edge_log.refused("b", "unverified", "too_large", 413, "")
    edge_log.refused("c", "unverified", "too_large", 413, "")
    assert len(lines(caplog)) == 1
    await asyncio.sleep(0.05)  # past the summary's timer, which is due first
    assert lines(caplog)[1:] == [
        "deliveries refused as too_large: 2 more (one such line per 0.01s)"
    ]


async def test_nothing_is_counted_or_timed_below_info(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    edge_log = EdgeLog(logging.getLogger(LOGGER), 60.0, Clock())
    for _ in range(3):
        edge_log.refused("a", "unverified", "bad_signature", 401, "")
    edge_log.summarise()
    assert caplog.records == []
