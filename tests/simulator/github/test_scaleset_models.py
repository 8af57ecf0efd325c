"""Message sessions and the long-poll queue, over HTTP: one holder, tokens, holds, redelivery."""

from __future__ import annotations

import asyncio

from tests.simulator.github.conftest import REPO, Listener

RSS = "_apis/runtime/runnerscalesets"


async def queue_jobs(
    listener: Listener, count: int, labels: tuple[str, ...] = ("rod",)
) -> list[int]:
    """Queue a run of `count` jobs in REPO; their REST ids."""
    jobs = [{"name": f"job-{n}", "labels": list(labels)} for n in range(count)]
    run = await listener.client.post(f"/_sim/repos/{REPO}/runs", json={"jobs": jobs})
    assert run.status_code == 201, run.text
    return [job["id"] for job in run.json()["jobs"]]


async def advance(listener: Listener, seconds: float) -> None:
    """Move the emulator clock."""
    response = await listener.client.post("/_sim/clock", json={"advance_seconds": seconds})
    assert response.status_code == 200


async def held(listener: Listener) -> None:
    """Wait until the emulator holds one poll of the listener's session."""
    for _ in range(500):
        [scale_set] = (await listener.client.get("/_sim/scalesets")).json()
        if scale_set["sessions"][0]["polls"] == 1:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the poll was never held")


class TestSessions:
    async def test_one_holder_at_a_time(self, listener: Listener) -> None:
        scale_set = await listener.create_scale_set()

        first = await listener.open_session(scale_set["id"], owner="host-a")

        assert first.status_code == 200
        session = first.json()
        assert session["ownerName"] == "host-a"
        assert session["runnerScaleSet"]["id"] == scale_set["id"]
        assert session["messageQueueUrl"].endswith("/_services/broker/scalesets/message")
        assert session["statistics"]["totalAssignedJobs"] == 0
        second = await listener.open_session(scale_set["id"], owner="host-b")
        assert second.status_code == 409
        assert second.json()["typeName"].startswith(
            "GitHub.Actions.Runtime.WebApi.RunnerScaleSetSessionConflictException"
        )
        assert second.json()["message"] == (
            "The actions runner scaleset rod already has an active session."
        )

        path = f"{RSS}/{scale_set['id']}/sessions/{session['sessionId']}"
        assert (await listener.api("DELETE", path)).status_code == 204
        again = await listener.api("DELETE", path)
        assert again.status_code == 400
        assert "RunnerScaleSetSessionExpiredException" in again.json()["typeName"]
        assert (await listener.open_session(scale_set["id"], owner="host-b")).status_code == 200

    async def test_refresh_issues_a_new_queue_token(self, listener: Listener) -> None:
        scale_set = await listener.create_scale_set()
        await listener.open_session(scale_set["id"])
        old = dict(listener.session)

        refreshed = await listener.api(
            "PATCH", f"{RSS}/{scale_set['id']}/sessions/{old['sessionId']}"
        )

        assert refreshed.status_code == 200
        assert refreshed.json()["sessionId"] == old["sessionId"]
        assert refreshed.json()["messageQueueAccessToken"] != old["messageQueueAccessToken"]
        assert (await listener.poll()).status_code == 401  # still the old token
        listener.session = refreshed.json()
        assert (await listener.poll()).status_code == 202
        unknown = await listener.api(
            "PATCH", f"{RSS}/{scale_set['id']}/sessions/00000000-0000-0000-0000-000000000000"
        )
        assert unknown.status_code == 404
        assert "doesn't exist" in unknown.json()["message"]

    async def test_queue_token_expires_with_the_clock(self, listener: Listener) -> None:
        await listener.client.post("/_sim/scalesets/config", json={"session_timeout": 9999})
        scale_set = await listener.create_scale_set()
        await listener.open_session(scale_set["id"])

        await advance(listener, 3001)  # the session lives on; its queue token does not

        assert (await listener.poll()).status_code == 401
        assert (await listener.ack(1)).status_code == 401
        assert (await listener.acquire(scale_set["id"], [1])).status_code == 401

    async def test_an_abandoned_session_expires(self, listener: Listener) -> None:
        scale_set = await listener.create_scale_set()
        await listener.open_session(scale_set["id"], owner="crashed")
        assert (await listener.open_session(scale_set["id"])).status_code == 409

        await advance(listener, 301)  # nobody polled for longer than the session timeout
        await listener.register()

        assert (await listener.open_session(scale_set["id"], owner="restarted")).status_code == 200


class TestLongPoll:
    async def test_nothing_new_answers_202_after_the_hold(self, listener: Listener) -> None:
        scale_set = await listener.create_scale_set()
        await listener.open_session(scale_set["id"])

        response = await listener.poll()

        assert response.status_code == 202
        assert response.content == b""
        [state] = (await listener.client.get("/_sim/scalesets")).json()
        assert state["sessions"][0]["polls"] == 0  # no longer held

    async def test_a_held_poll_wakes_up_when_a_job_is_queued(self, listener: Listener) -> None:
        await listener.client.post("/_sim/scalesets/config", json={"poll_hold": 30})
        scale_set = await listener.create_scale_set()
        await listener.open_session(scale_set["id"])
        poll = asyncio.create_task(listener.poll())
        await held(listener)

        await queue_jobs(listener, 1)
        response = await poll

        assert response.status_code == 200
        assert response.json()["messageType"] == "RunnerScaleSetJobMessages"

    async def test_redelivered_until_acknowledged(self, listener: Listener) -> None:
        scale_set = await listener.create_scale_set()
        await listener.open_session(scale_set["id"])
        await queue_jobs(listener, 1)

        first, entries = await listener.message()
        again, _ = await listener.message()  # not acked, lastMessageId 0: the same message

        assert again["messageId"] == first["messageId"]
        assert [e["messageType"] for e in entries] == ["JobAvailable"]
        assert (await listener.poll(last=first["messageId"])).status_code == 202
        assert (await listener.ack(first["messageId"])).status_code == 204
        assert (await listener.poll()).status_code == 202

    async def test_at_most_50_entries_per_message(self, listener: Listener) -> None:
        scale_set = await listener.create_scale_set()
        await listener.open_session(scale_set["id"])
        await queue_jobs(listener, 120)

        sizes, last = [], 0
        for _ in range(3):
            message, entries = await listener.message(last)
            assert (await listener.ack(message["messageId"])).status_code == 204
            sizes.append(len(entries))
            last = message["messageId"]
            assert message["statistics"]["totalAvailableJobs"] == 120

        assert sizes == [50, 50, 20]
        assert (await listener.poll(last)).status_code == 202

    async def test_max_capacity_limits_assignment(self, listener: Listener) -> None:
        scale_set = await listener.create_scale_set()
        await listener.open_session(scale_set["id"])
        await queue_jobs(listener, 3)
        message, entries = await listener.message(capacity=2)
        await listener.ack(message["messageId"])

        acquired = await listener.acquire(scale_set["id"], [e["runnerRequestId"] for e in entries])
        message, entries = await listener.message(message["messageId"], capacity=2)

        assert acquired.json()["count"] == 3
        assert [e["messageType"] for e in entries] == ["JobAssigned", "JobAssigned"]
        assert message["statistics"] == {
            "totalAvailableJobs": 0,
            "totalAcquiredJobs": 1,
            "totalAssignedJobs": 2,
            "totalRunningJobs": 0,
            "totalRegisteredRunners": 0,
            "totalBusyRunners": 0,
            "totalIdleRunners": 0,
        }
        await listener.ack(message["messageId"])
        message, entries = await listener.message(message["messageId"], capacity=3)
        assert [e["messageType"] for e in entries] == ["JobAssigned"]
        assert message["statistics"]["totalAssignedJobs"] == 3
