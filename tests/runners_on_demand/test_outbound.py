"""Tests for runners_on_demand.outbound: coroutines run on a loop in another thread."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Iterator

import pytest

from runners_on_demand.outbound import SWITCH_INTERVAL, OutboundLoop


@pytest.fixture
def outbound() -> Iterator[OutboundLoop]:
    loop = OutboundLoop()
    loop.start()
    yield loop
    loop.stop()


async def where() -> tuple[str, asyncio.AbstractEventLoop]:
    return threading.current_thread().name, asyncio.get_running_loop()


async def test_a_coroutine_runs_on_the_outbound_thread_and_loop(outbound: OutboundLoop) -> None:
    thread, loop = await outbound.run(where())
    assert thread == "rod-outbound" and loop is outbound.loop
    assert asyncio.get_running_loop() is not outbound.loop


async def test_errors_come_back_to_the_caller(outbound: OutboundLoop) -> None:
    async def fails() -> None:
        raise ValueError("nope")

    with pytest.raises(ValueError, match="nope"):
        await outbound.run(fails())


def test_submit_from_plain_code_and_the_lock_is_handed_over_often(outbound: OutboundLoop) -> None:
    assert outbound.submit(where()).result(timeout=10)[0] == "rod-outbound"
    assert sys.getswitchinterval() <= SWITCH_INTERVAL


def test_stop_ends_the_thread() -> None:
    outbound = OutboundLoop(name="rod-outbound-stop")
    outbound.start()
    outbound.stop()
    assert not any(t.name == "rod-outbound-stop" for t in threading.enumerate())
    assert outbound.loop.is_closed()
