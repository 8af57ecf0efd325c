"""simulator.nomad.events: the buffer, topic matching, and the NDJSON stream over HTTP."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from simulator.nomad import NomadEmulator
from simulator.nomad.events import BUFFER_SIZE, EventBuffer, event, matches, parse_topics

from .conftest import GOOD_META, parameterized_job

JOB_EVENT = event("Job", "JobRegistered", "sim", "default", {"Job": {}})
ALLOC_EVENT = event("Allocation", "PlanResult", "a1", "default", {}, ["sim/dispatch-1-x"])


class TestMatching:
    def test_parse_topics(self) -> None:
        assert parse_topics([]) == {"*": {"*"}}
        assert parse_topics(["Job:sim", "Job:b", "Allocation"]) == {
            "Job": {"sim", "b"},
            "Allocation": {"*"},
        }

    def test_key_or_filter_keys(self) -> None:
        assert matches(JOB_EVENT, {"Job": {"sim"}}, "default")
        assert not matches(JOB_EVENT, {"Job": {"other"}}, "default")
        assert matches(ALLOC_EVENT, {"Allocation": {"sim/dispatch-1-x"}}, "default")
        assert not matches(ALLOC_EVENT, {"Job": {"*"}}, "default")
        assert not matches(JOB_EVENT, {"*": {"*"}}, "other")
        assert matches(JOB_EVENT, {"*": {"*"}}, "*")


class TestEventBuffer:
    def test_groups_by_index_and_keeps_the_newest(self) -> None:
        buffer = EventBuffer()
        for index in range(1, BUFFER_SIZE + 6):
            buffer.publish(index, JOB_EVENT)
        buffer.publish(BUFFER_SIZE + 5, ALLOC_EVENT)
        batches = buffer.batches_after(0, {"*": {"*"}}, "default")
        assert batches[0]["Index"] == 7  # the oldest still buffered
        assert [e["Topic"] for e in batches[-1]["Events"]] == ["Job", "Allocation"]

    def test_same_object_same_index_is_one_event(self) -> None:
        buffer = EventBuffer()
        buffer.publish(3, ALLOC_EVENT)
        buffer.publish(3, {**ALLOC_EVENT, "Type": "AllocationUpdated", "Payload": {"n": 2}})
        (batch,) = buffer.batches_after(0, {"*": {"*"}}, "default")
        assert [(e["Type"], e["Payload"]) for e in batch["Events"]] == [("PlanResult", {"n": 2})]


@pytest.fixture
async def served() -> AsyncIterator[tuple[NomadEmulator, httpx.AsyncClient]]:
    emu = NomadEmulator().start()
    async with emu.client(timeout=10) as client:
        yield emu, client
    emu.stop()


async def read_until(lines: AsyncIterator[str], want: int) -> list[dict[str, Any]]:
    """Read NDJSON lines until `want` non-heartbeat batches arrived."""
    batches: list[dict[str, Any]] = []
    async for line in lines:
        item = json.loads(line)
        if item:
            batches.append(item)
        if len(batches) == want:
            break
    return batches


class TestStream:
    async def test_dispatch_events_by_filter_key(
        self, served: tuple[NomadEmulator, httpx.AsyncClient]
    ) -> None:
        _, client = served
        await client.post("/v1/jobs", json={"Job": parameterized_job()})
        reply = await client.post("/v1/job/sim/dispatch", json={"Meta": GOOD_META})
        child = reply.json()["DispatchedJobID"]
        params = httpx.QueryParams(
            [("topic", f"Allocation:{child}"), ("topic", f"Job:{child}"), ("index", "1")]
        )
        async with client.stream("GET", "/v1/event/stream", params=params) as response:
            lines = response.aiter_lines()
            assert json.loads(await anext(lines)) == {}
            (batch,) = await read_until(lines, 1)
        kinds = {(e["Topic"], e["Type"]) for e in batch["Events"]}
        assert kinds == {("Job", "JobRegistered"), ("Allocation", "PlanResult")}
        assert batch["Index"] == reply.json()["Index"]

    async def test_live_events_and_purge(
        self, served: tuple[NomadEmulator, httpx.AsyncClient]
    ) -> None:
        _, client = served
        params = {"topic": "Job:sim"}
        async with client.stream("GET", "/v1/event/stream", params=params) as response:
            lines = response.aiter_lines()
            assert json.loads(await anext(lines)) == {}
            await client.post("/v1/jobs", json={"Job": parameterized_job()})
            await client.delete("/v1/job/sim", params={"purge": "true"})
            batches = await read_until(lines, 2)
        events = [e for b in batches for e in b["Events"]]
        assert [e["Type"] for e in events] == ["JobRegistered", "JobDeregistered"]
        assert events[1]["Payload"]["Deleted"] is True

    async def test_heartbeat(self, served: tuple[NomadEmulator, httpx.AsyncClient]) -> None:
        emu, client = served
        api = emu.app.state.api
        api.heartbeat_seconds = 0.05
        async with client.stream("GET", "/v1/event/stream") as response:
            lines = response.aiter_lines()
            assert [json.loads(await anext(lines)) for _ in range(3)] == [{}, {}, {}]
