"""Each fault switch of the emulated Actions service, through `/_sim/...` and real calls."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.simulator.github.conftest import Listener
from tests.simulator.github.test_scaleset_jobs import handled
from tests.simulator.github.test_scaleset_models import advance, queue_jobs

RSS = "_apis/runtime/runnerscalesets"


async def switch(listener: Listener, **fault: Any) -> None:
    """POST /_sim/scalesets/faults."""
    response = await listener.client.post("/_sim/scalesets/faults", json=fault)
    assert response.status_code == 201, response.text


async def ready(listener: Listener) -> int:
    """A scale set with an open session; its id."""
    scale_set = await listener.create_scale_set()
    assert (await listener.open_session(scale_set["id"])).status_code == 200
    return int(scale_set["id"])


async def test_queue_token_401_for_the_next_calls(listener: Listener) -> None:
    scale_set_id = await ready(listener)
    await switch(listener, mode="unauthorized", operation="get_message", count=2)
    await switch(listener, mode="unauthorized", operation="delete_message")
    await switch(listener, mode="unauthorized", operation="acquire_jobs")

    assert [(await listener.poll()).status_code for _ in range(3)] == [401, 401, 202]
    assert (await listener.ack(1)).status_code == 401
    assert (await listener.ack(1)).status_code == 204
    assert (await listener.acquire(scale_set_id, [1])).status_code == 401
    assert (await listener.acquire(scale_set_id, [1])).status_code == 200
    assert (await listener.client.get("/_sim/scalesets/faults")).json() == []


async def test_429_with_retry_after_and_5xx(listener: Listener) -> None:
    await ready(listener)
    await switch(listener, mode="throttled", operation="get_message", retry_after=7)
    await switch(listener, mode="server_error", operation="*", status=503, retry_after=2)
    await switch(listener, mode="server_error", operation="list_runner_scale_sets")

    throttled = await listener.poll()
    unavailable = await listener.poll()
    broken = await listener.api("GET", RSS)

    assert (throttled.status_code, throttled.headers["retry-after"]) == (429, "7")
    assert (unavailable.status_code, unavailable.headers["retry-after"]) == (503, "2")
    assert broken.status_code == 500 and "retry-after" not in broken.headers
    assert (await listener.poll()).status_code == 202  # the faults are used up


async def test_bom_before_the_json(listener: Listener) -> None:
    scale_set_id = await ready(listener)
    await queue_jobs(listener, 1)
    await switch(listener, mode="bom", operation="get_message")
    await switch(listener, mode="bom", operation="get_runner_scale_set")

    message = await listener.poll()
    scale_set = await listener.api("GET", f"{RSS}/{scale_set_id}")

    for response in (message, scale_set):
        assert response.status_code == 200
        assert response.content.startswith(b"\xef\xbb\xbf")
        json.loads(response.content[3:])  # valid JSON once the BOM is stripped
    assert (await listener.poll()).content.startswith(b"{")


async def test_empty_200_then_the_message(listener: Listener) -> None:
    await ready(listener)
    await queue_jobs(listener, 1)
    await switch(listener, mode="empty", operation="get_message")

    empty = await listener.poll()
    _, entries = await listener.message()

    assert (empty.status_code, empty.content) == (200, b"")
    assert [e["messageType"] for e in entries] == ["JobAvailable"]  # not lost


async def test_stale_session_409_for_a_while(listener: Listener) -> None:
    scale_set = await listener.create_scale_set()
    response = await listener.client.post(
        f"/_sim/scalesets/{scale_set['id']}/stale-session", json={"seconds": 120}
    )
    assert response.status_code == 200

    assert (await listener.open_session(scale_set["id"])).status_code == 409
    await advance(listener, 121)
    await listener.register()
    assert (await listener.open_session(scale_set["id"])).status_code == 200


@pytest.mark.parametrize(
    ("to", "then"), [("assigned", "JobAssigned"), ("available", "JobAvailable")]
)
async def test_reassignment(listener: Listener, to: str, then: str) -> None:
    await ready(listener)
    [job_id] = await queue_jobs(listener, 1)
    last, _, _ = await handled(listener, 0)
    message, entries = await listener.message(last)
    assert [e["messageType"] for e in entries] == ["JobAssigned"]
    await listener.ack(message["messageId"])

    response = await listener.client.post(f"/_sim/jobs/{job_id}/reassign", json={"to": to})
    message, entries = await listener.message(message["messageId"])

    assert response.status_code == 200
    assert [(e["messageType"], e.get("result")) for e in entries] == [
        ("JobCompleted", "canceled"),
        (then, None),
    ]
    assert entries[0]["runnerRequestId"] == entries[1]["runnerRequestId"]
    stats = message["statistics"]
    assert (stats["totalAssignedJobs"], stats["totalAvailableJobs"]) == (
        (1, 0) if to == "assigned" else (0, 1)
    )
    rest = (await listener.client.get(f"/repos/acme/app/actions/jobs/{job_id}")).json()
    assert rest["status"] == "queued"  # the workflow job itself never left the queue


async def test_bad_switches_change_nothing(listener: Listener) -> None:
    for bad in (
        {"mode": "explode"},
        {"mode": "server_error", "status": 404},
        {"mode": "bom", "operation": "no_such_call"},
        {"mode": "empty", "count": 0},
    ):
        response = await listener.client.post("/_sim/scalesets/faults", json=bad)
        assert response.status_code == 400, bad
    reassign = await listener.client.post("/_sim/jobs/1/reassign", json={"to": "assigned"})
    config = await listener.client.post("/_sim/scalesets/config", json={"poll_hold": -1})

    assert reassign.status_code == 404 and config.status_code == 422
    assert (await listener.client.get("/_sim/scalesets/faults")).json() == []
    assert (await listener.client.get("/_sim/scalesets/config")).json()["poll_hold"] == 0.2


async def test_reset_forgets_scale_sets_faults_and_timings(listener: Listener) -> None:
    await ready(listener)
    await switch(listener, mode="empty")

    assert (await listener.client.post("/_sim/reset")).status_code == 204

    assert (await listener.client.get("/_sim/scalesets")).json() == []
    assert (await listener.client.get("/_sim/scalesets/faults")).json() == []
    assert (await listener.client.get("/_sim/scalesets/config")).json()["poll_hold"] == 50.0
    assert (await listener.api("GET", RSS)).status_code == 401  # admin tokens of before
