"""Tests for runners_on_demand.intake_first: outbound calls wait while webhooks are answered."""

from __future__ import annotations

import asyncio

import httpx

from runners_on_demand.intake_first import IntakeFirst
from tests.runners_on_demand.fakes import SleepingClock


def first(clock: SleepingClock) -> IntakeFirst:
    return IntakeFirst(quiet=0.002, longest=0.05, monotonic=clock.monotonic, sleep=clock.sleep)


async def test_with_no_webhook_a_call_goes_at_once() -> None:
    clock = SleepingClock(100.0)
    await first(clock).turn()
    assert clock.slept == []


async def test_a_call_waits_for_the_quiet_after_the_last_webhook() -> None:
    clock = SleepingClock(100.0)
    intake = first(clock)
    with intake.answering():
        assert intake.busy()
    clock.now += 0.0005
    await intake.turn()
    assert clock.slept == [0.002] and not intake.busy()


async def test_under_a_flood_a_call_waits_the_longest_and_then_goes() -> None:
    clock = SleepingClock(100.0)
    intake = first(clock)
    with intake.answering():  # a webhook that never ends
        await intake.turn()
    assert 0.05 <= round(sum(clock.slept), 6) <= 0.052


async def test_it_holds_httpx_requests_while_a_webhook_is_answered() -> None:
    intake = IntakeFirst(quiet=0.01, longest=5.0)
    order: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        order.append("call")
        return httpx.Response(200)

    transport = httpx.MockTransport(answer)
    async with httpx.AsyncClient(transport=transport, event_hooks={"request": [intake.turn]}) as c:
        with intake.answering():
            call = asyncio.create_task(c.get("http://upstream.test/"))
            await asyncio.sleep(0.05)
            order.append("acknowledged")
        await call
    assert order == ["acknowledged", "call"]
