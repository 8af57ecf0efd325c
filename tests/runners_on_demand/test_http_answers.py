"""The probe and error answers `rod serve` and `rod listen` share (their apps test the handlers)."""

from __future__ import annotations

import asyncio

import pytest

from runners_on_demand import http_answers
from runners_on_demand.errors import NomadError
from runners_on_demand.http_answers import probe


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
