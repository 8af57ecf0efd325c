"""The probe and error answers `rod serve` and `rod listen` share (their apps test the handlers)."""

from __future__ import annotations

import asyncio

import pytest

from runners_on_demand import http_answers
from runners_on_demand.errors import NomadError
from runners_on_demand.http_answers import Reused, probe


async def ok() -> None:
    return None


async def down() -> None:
    raise NomadError("Nomad GET /v1/agent/health: ConnectError")


async def broken() -> None:
    raise KeyError("a bug")


async def silent() -> None:
    await asyncio.sleep(60)


class TestProbe:
    async def test_each_answer_is_one_line(
        self, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        monkeypatch.setattr(http_answers, "PROBE_TIMEOUT", 0.01)
        assert await probe(ok()) == "ok"
        assert await probe(down()) == "Nomad GET /v1/agent/health: ConnectError"
        assert await probe(silent()) == "no answer within 0s"
        assert await probe(broken()) == "unexpected error; see the log"
        assert "readiness probe failed" in caplog.text and "a bug" in caplog.text


class TestReused:
    async def test_one_computation_per_period_shared_by_concurrent_callers(self) -> None:
        now = [100.0]
        computed: list[float] = []

        async def compute() -> int:
            computed.append(now[0])
            await asyncio.sleep(0)  # the others arrive while it runs
            return len(computed)

        reused = Reused(compute, 5.0, lambda: now[0])
        assert await asyncio.gather(*(reused() for _ in range(10))) == [1] * 10
        now[0] = 104.9
        assert await reused() == 1
        now[0] = 105.0
        assert await reused() == 2
        assert computed == [100.0, 105.0]
