"""simulator.nomad.watch: one index, blocking waits woken from other threads."""

from __future__ import annotations

import asyncio
import threading

from simulator.nomad.watch import IndexWatch


class TestIndexWatch:
    async def test_wait_returns_at_once_when_index_is_newer(self) -> None:
        watch = IndexWatch()
        watch.bump()
        assert await watch.wait_beyond(lambda: watch.index, 1, 60) == 2

    async def test_bump_from_another_thread_wakes_waiter(self) -> None:
        watch = IndexWatch()
        waiter = asyncio.create_task(watch.wait_beyond(lambda: watch.index, 1, 60))
        await asyncio.sleep(0)
        assert not waiter.done()
        threading.Thread(target=watch.bump).start()
        assert await asyncio.wait_for(waiter, 10) == 2

    async def test_times_out_with_current_index(self) -> None:
        watch = IndexWatch()
        assert await watch.wait_beyond(lambda: watch.index, 1, 0.01) == 1

    async def test_unrelated_bump_keeps_waiting_for_its_own_index(self) -> None:
        watch = IndexWatch()
        own = 1
        waiter = asyncio.create_task(watch.wait_beyond(lambda: own, 1, 60))
        await asyncio.sleep(0)
        watch.bump()
        await asyncio.sleep(0.01)
        assert not waiter.done()
        own = 5
        watch.bump()
        assert await asyncio.wait_for(waiter, 10) == 5
