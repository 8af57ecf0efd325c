"""`Deadlines`: one loop timer for many awaits, each cut off after the same limit."""

from __future__ import annotations

import asyncio

import pytest

from runners_on_demand.deadlines import Deadlines

LIMIT = 0.2


async def _after(seconds: float, value: str = "done") -> str:
    await asyncio.sleep(seconds)
    return value


async def test_an_await_within_the_limit_returns_its_value() -> None:
    assert await Deadlines(LIMIT).within(_after(0.01)) == "done"


async def test_an_overdue_await_raises_timeout_and_leaves_its_task_usable() -> None:
    deadlines = Deadlines(LIMIT)
    with pytest.raises(TimeoutError):
        await deadlines.within(_after(10))
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0
    assert await _after(0.01, "later") == "later"  # no cancellation left pending


async def test_only_the_overdue_awaits_of_many_time_out() -> None:
    deadlines = Deadlines(LIMIT)

    async def one(seconds: float) -> str:
        try:
            return await deadlines.within(_after(seconds))
        except TimeoutError:
            return "timeout"

    quick, slow = [0.01 * n for n in range(1, 6)], [5.0] * 3
    started = asyncio.get_running_loop().time()
    results = await asyncio.gather(*(one(s) for s in quick + slow))
    took = asyncio.get_running_loop().time() - started
    assert results == ["done"] * len(quick) + ["timeout"] * len(slow)
    assert LIMIT <= took < 5.0


async def test_awaits_set_one_after_another_each_get_their_own_deadline() -> None:
    deadlines = Deadlines(LIMIT)
    first = asyncio.create_task(deadlines.within(_after(10)))
    await asyncio.sleep(LIMIT / 2)
    second = asyncio.create_task(deadlines.within(_after(10)))
    with pytest.raises(TimeoutError):
        await first
    assert not second.done()  # its deadline is half a limit later
    with pytest.raises(TimeoutError):
        await second


async def test_a_cancellation_from_elsewhere_stays_a_cancellation() -> None:
    deadlines = Deadlines(LIMIT)
    task = asyncio.create_task(deadlines.within(_after(10)))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_a_new_event_loop_gets_a_timer_of_its_own() -> None:
    deadlines = Deadlines(LIMIT)
    assert asyncio.run(deadlines.within(_after(0.01))) == "done"  # arms a timer on that loop
    with pytest.raises(TimeoutError):
        asyncio.run(deadlines.within(_after(10)))
