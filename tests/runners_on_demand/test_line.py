"""Tests for runners_on_demand.line: first come first served, holds, withdrawals, join."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from runners_on_demand.decision import DEFAULT_POOL, StartRunner
from runners_on_demand.line import Line, PendingStart
from tests.runners_on_demand.test_pipeline import EVENT


def runner(job_id: int) -> PendingStart:
    start = StartRunner(DEFAULT_POOL, f"rod-{job_id}-1", EVENT.labels)
    return PendingStart(replace(EVENT, job_id=job_id), start, 0.0)


class FakeTime:
    """A sleep that records and returns at once, and a monotonic clock that never moves."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)

    def monotonic(self) -> float:
        return 0.0


def line(size: int = 10) -> tuple[Line, FakeTime]:
    time = FakeTime()
    return Line(size, sleep=time.sleep, monotonic=time.monotonic), time


class TestLine:
    async def test_first_come_first_served_and_bounded(self) -> None:
        made, _ = line(size=2)
        assert made.put(runner(1)) and made.put(runner(2))
        assert not made.put(runner(3))
        assert [(await made.get()).start.runner_name for _ in range(2)] == ["rod-1-1", "rod-2-1"]

    async def test_a_held_runner_keeps_its_place(self) -> None:
        made, time = line()
        made.put(runner(1))
        made.put(runner(2))
        first = await made.get()
        made.hold(first, 30.0)
        assert (made.depth, made.held) == (1, 1)
        await asyncio.sleep(0)  # the release timer runs (the fake sleep returns at once)
        assert time.waits == [30.0] and made.held == 0
        assert (await made.get()).start.runner_name == "rod-1-1"  # before rod-2-1, as it came

    async def test_a_shorter_hold_wakes_the_line_sooner(self) -> None:
        never = asyncio.Event()
        waits: list[float] = []

        async def sleep(seconds: float) -> None:
            waits.append(seconds)
            if seconds > 60:
                await never.wait()

        made = Line(10, sleep=sleep, monotonic=lambda: 0.0)
        for job in (1, 2):
            made.put(runner(job))
        made.hold(await made.get(), 3600.0)  # one installation waits an hour
        await asyncio.sleep(0)
        made.hold(await made.get(), 60.0)  # another a minute: both are released after it
        await asyncio.sleep(0)
        assert waits == [3600.0, 60.0] and made.held == 0
        await made.close()

    async def test_withdraw_prefers_the_named_runner_then_any_that_matches(self) -> None:
        made, _ = line()
        for job in (1, 2, 3):
            made.put(runner(job))
        assert made.withdraw("rod-2-1", or_else=lambda p: True) == runner(2)
        taken = made.withdraw("rod-9-1", or_else=lambda p: p.event.job_id == 3)
        assert taken == runner(3) and made.withdraw("rod-9-1", or_else=lambda p: False) is None
        assert list(made.pending) == ["rod-1-1"]
        assert (await made.get()).start.runner_name == "rod-1-1"  # the withdrawn are skipped

    async def test_join_waits_for_done_held_and_withdrawn_alike(self) -> None:
        made, _ = line()
        for job in (1, 2):
            made.put(runner(job))
        first = await made.get()
        made.hold(first, 0.0)
        made.withdraw("rod-1-1", or_else=lambda p: False)  # taken out of its hold
        second = await made.get()
        joined = asyncio.create_task(made.join())
        await asyncio.sleep(0)
        assert not joined.done()
        made.done(second)
        await asyncio.wait_for(joined, 5)
        assert made.pending == {}

    async def test_parked_runners_wait_for_their_key_and_keep_their_places(self) -> None:
        made, _ = line()
        for job in (1, 2, 3):
            made.put(runner(job))
        first, second = await made.get(), await made.get()
        made.park(second, "github-runner")
        made.park(first, "github-runner")
        assert (made.depth, made.held, made.parked()) == (1, 0, {"github-runner": 2})
        assert made.unpark("gpu-runner") == 0
        assert made.unpark("github-runner") == 2 and made.parked() == {}
        names = [(await made.get()).start.runner_name for _ in range(3)]
        assert names == ["rod-1-1", "rod-2-1", "rod-3-1"]  # in the order they came

    async def test_a_parked_runner_can_be_withdrawn_and_join_counts_it_once(self) -> None:
        made, _ = line()
        made.put(runner(1))
        made.park(await made.get(), "github-runner")
        joined = asyncio.create_task(made.join())
        await asyncio.sleep(0)
        assert not joined.done()  # a parked runner is unfinished work
        assert made.withdraw("rod-1-1", or_else=lambda p: False) == runner(1)
        assert made.parked() == {"github-runner": 0} and made.unpark("github-runner") == 0
        await asyncio.wait_for(joined, 5)
        assert made.pending == {} and made.depth == 0
