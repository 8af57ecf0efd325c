"""Jobs and scale sets over HTTP: who takes a job, the message sequence, statistics, REST view."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from simulator.runner.jitconfig import decode_jit_config
from tests.simulator.github.conftest import REPO, Listener, Receiver
from tests.simulator.github.test_scaleset_models import queue_jobs

AGENTS = "_apis/distributedtask/pools/0/agents"
IDLE = {
    "totalAvailableJobs": 0,
    "totalAcquiredJobs": 0,
    "totalAssignedJobs": 0,
    "totalRunningJobs": 0,
    "totalRegisteredRunners": 0,
    "totalBusyRunners": 0,
    "totalIdleRunners": 0,
}


@dataclass
class FakeRunner:
    """A runner speaking the simulator-only runner API with a JIT config's secret."""

    client: httpx.AsyncClient
    secret: str
    session_id: str = ""

    @classmethod
    async def connect(cls, client: httpx.AsyncClient, encoded: str) -> FakeRunner:
        """Decode the JIT config and open a runner session (the runner is online)."""
        runner = cls(client, decode_jit_config(encoded).secret)
        response = await client.post("/_actions/sessions", headers=runner.auth)
        assert response.status_code == 201, response.text
        runner.session_id = response.json()["session_id"]
        return runner

    @property
    def auth(self) -> dict[str, str]:
        """The runner's bearer credential."""
        return {"Authorization": f"Bearer {self.secret}"}

    async def take(self) -> dict[str, Any] | None:
        """One poll for a job, without waiting."""
        response = await self.client.get(
            f"/_actions/sessions/{self.session_id}/job", params={"wait": "0"}, headers=self.auth
        )
        assert response.status_code in (200, 204), response.text
        return response.json() if response.status_code == 200 else None

    async def complete(self, job_id: int, conclusion: str = "success") -> None:
        """Report the job done."""
        response = await self.client.post(
            f"/_actions/jobs/{job_id}/complete", json={"conclusion": conclusion}, headers=self.auth
        )
        assert response.status_code == 200, response.text


async def scale_set_runner(listener: Listener, scale_set_id: int, name: str) -> FakeRunner:
    """generatejitconfig, then connect a runner with it."""
    response = await listener.jit(scale_set_id, name)
    assert response.status_code == 200, response.text
    return await FakeRunner.connect(listener.client, response.json()["encodedJITConfig"])


async def plain_runner(listener: Listener, name: str, labels: list[str]) -> FakeRunner:
    """A REST generate-jitconfig runner (not in any scale set), connected."""
    response = await listener.client.post(
        f"/repos/{REPO}/actions/runners/generate-jitconfig",
        json={"name": name, "runner_group_id": 1, "labels": labels},
    )
    assert response.status_code == 201, response.text
    return await FakeRunner.connect(listener.client, response.json()["encoded_jit_config"])


async def handled(
    listener: Listener, last: int
) -> tuple[int, list[dict[str, Any]], dict[str, int]]:
    """Poll, ack, acquire every JobAvailable: (message id, entries, statistics)."""
    message, entries = await listener.message(last)
    assert (await listener.ack(message["messageId"])).status_code == 204
    available = [e["runnerRequestId"] for e in entries if e["messageType"] == "JobAvailable"]
    if available:
        scale_set_id = listener.session["runnerScaleSet"]["id"]
        assert (await listener.acquire(scale_set_id, available)).status_code == 200
    return message["messageId"], entries, message["statistics"]


async def test_the_whole_life_of_a_scale_set_job(listener: Listener, receiver: Receiver) -> None:
    hook = await listener.client.post(
        f"/repos/{REPO}/hooks",
        json={"config": {"url": receiver.url, "content_type": "json"}, "events": ["workflow_job"]},
    )
    assert hook.status_code == 201
    scale_set = await listener.create_scale_set("rod")
    await listener.open_session(scale_set["id"])
    outsider = await plain_runner(listener, "outsider", ["rod"])
    member = await scale_set_runner(listener, scale_set["id"], "rod-1")
    [job_id] = await queue_jobs(listener, 1)
    assert await member.take() is None  # offered to the scale set, not yet acquired

    last, entries, stats = await handled(listener, 0)  # JobAvailable, then acquired
    assert [e["messageType"] for e in entries] == ["JobAvailable"]
    assert stats["totalAvailableJobs"] == 1 and stats["totalRegisteredRunners"] == 1
    assert await outsider.take() is None  # reserved for the scale set
    last, entries, stats = await handled(listener, last)
    assert [e["messageType"] for e in entries] == ["JobAssigned"]
    assert stats["totalAssignedJobs"] == 1 and stats["totalIdleRunners"] == 1

    taken = await member.take()
    assert taken is not None and taken["job_id"] == job_id
    last, entries, stats = await handled(listener, last)
    assert [(e["messageType"], e["runnerName"]) for e in entries] == [("JobStarted", "rod-1")]
    assert (stats["totalRunningJobs"], stats["totalBusyRunners"]) == (1, 1)
    runner_id = entries[0]["runnerId"]
    busy = await listener.api("DELETE", f"{AGENTS}/{runner_id}")
    assert busy.status_code == 400 and "JobStillRunningException" in busy.json()["typeName"]

    await member.complete(job_id, "failure")
    last, entries, stats = await handled(listener, last)
    assert [(e["messageType"], e["result"]) for e in entries] == [("JobCompleted", "failed")]
    assert stats == IDLE  # the ephemeral runner is gone too
    rest = (await listener.client.get(f"/repos/{REPO}/actions/jobs/{job_id}")).json()
    assert (rest["status"], rest["conclusion"], rest["runner_name"]) == (
        "completed",
        "failure",
        "rod-1",
    )
    assert (await listener.client.post("/_sim/webhooks/flush")).json() == {"idle": True}
    actions = [p["action"] for p in receiver.payloads()]
    assert actions == ["queued", "in_progress", "completed"]


async def test_jobs_of_no_scale_set_stay_with_other_runners(listener: Listener) -> None:
    scale_set = await listener.create_scale_set("rod")
    member = await scale_set_runner(listener, scale_set["id"], "rod-1")
    outsider = await plain_runner(listener, "outsider", ["self-hosted"])
    [job_id] = await queue_jobs(listener, 1, labels=("self-hosted",))

    assert await member.take() is None
    taken = await outsider.take()

    assert taken is not None and taken["job_id"] == job_id


async def test_a_runner_takes_only_its_own_scale_sets_jobs(listener: Listener) -> None:
    first = await listener.create_scale_set("first", labels=[{"name": "shared"}])
    second = await listener.create_scale_set("second", labels=[{"name": "gpu"}])
    await listener.open_session(second["id"])
    stranger = await scale_set_runner(listener, first["id"], "first-1")
    await queue_jobs(listener, 1, labels=("gpu",))
    last, _, _ = await handled(listener, 0)
    _, entries, _ = await handled(listener, last)
    assert [e["messageType"] for e in entries] == ["JobAssigned"]

    assert await stranger.take() is None
    member = await scale_set_runner(listener, second["id"], "second-1")
    assert await member.take() is not None


async def test_labels_any_case_and_the_name_match(listener: Listener) -> None:
    scale_set = await listener.create_scale_set(
        "rod", labels=[{"name": "self-hosted"}, {"name": "Linux"}]
    )
    await listener.open_session(scale_set["id"])
    await queue_jobs(listener, 1, labels=("self-hosted", "linux"))
    await queue_jobs(listener, 1, labels=("rod",))
    await queue_jobs(listener, 1, labels=("linux", "gpu"))  # gpu: no match

    _, entries, stats = await handled(listener, 0)

    assert [e["requestLabels"] for e in entries] == [["self-hosted", "linux"], ["rod"]]
    assert stats["totalAvailableJobs"] == 2


async def test_a_job_queued_before_the_scale_set_is_offered_to_it(listener: Listener) -> None:
    await queue_jobs(listener, 1)
    scale_set = await listener.create_scale_set("rod")
    session = await listener.open_session(scale_set["id"])

    assert session.json()["statistics"]["totalAvailableJobs"] == 1  # catch-up from statistics
    _, entries, _ = await handled(listener, 0)
    assert [e["messageType"] for e in entries] == ["JobAvailable"]


async def test_a_job_awaiting_approval_is_offered_once_approved(listener: Listener) -> None:
    # Its first webhook is `queued` (status `waiting`): the service offers it only when queued.
    scale_set = await listener.create_scale_set("rod")
    session = await listener.open_session(scale_set["id"])
    jobs = [{"name": "deploy", "labels": ["rod"], "waiting": True}]
    run = await listener.client.post(f"/_sim/repos/{REPO}/runs", json={"jobs": jobs})
    [job_id] = [job["id"] for job in run.json()["jobs"]]
    assert session.json()["statistics"]["totalAvailableJobs"] == 0
    [state] = (await listener.client.get("/_sim/scalesets")).json()
    assert state["requests"] == []  # nothing offered while it waits
    assert (await listener.client.post(f"/_sim/jobs/{job_id}/approve")).status_code == 200

    _, entries, stats = await handled(listener, 0)

    assert [e["messageType"] for e in entries] == ["JobAvailable"]
    assert stats["totalAvailableJobs"] == 1


async def test_cancelling_an_assigned_job(listener: Listener) -> None:
    scale_set = await listener.create_scale_set("rod")
    await listener.open_session(scale_set["id"])
    [job_id] = await queue_jobs(listener, 1)
    last, _, _ = await handled(listener, 0)
    last, _, _ = await handled(listener, last)

    await listener.client.post(f"/_sim/jobs/{job_id}/cancel")
    _, entries, stats = await handled(listener, last)

    assert [(e["messageType"], e["result"]) for e in entries] == [("JobCompleted", "canceled")]
    assert stats == IDLE


async def test_deleting_a_scale_set_gives_its_jobs_back(listener: Listener) -> None:
    scale_set = await listener.create_scale_set("rod")
    await listener.open_session(scale_set["id"])
    await scale_set_runner(listener, scale_set["id"], "rod-1")
    [job_id] = await queue_jobs(listener, 1)
    await handled(listener, 0)

    deleted = await listener.api("DELETE", f"_apis/runtime/runnerscalesets/{scale_set['id']}")
    outsider = await plain_runner(listener, "outsider", ["rod"])

    assert deleted.status_code == 204
    taken = await outsider.take()
    assert taken is not None and taken["job_id"] == job_id
    agents = await listener.api("GET", AGENTS, params={"agentName": "rod-1"})
    assert agents.json()["count"] == 0  # its idle runner went with it
