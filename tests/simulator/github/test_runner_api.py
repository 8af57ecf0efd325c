"""The simulator-only runner API (`/_actions`), exactly as docs/architecture.md fixes it."""

from __future__ import annotations

import base64
import json

import httpx

from tests.simulator.github.conftest import REPO, GitHub, Receiver

RUNNERS = f"/repos/{REPO}/actions/runners"


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


async def _session(github: GitHub, secret: str) -> str:
    response = await github.client.post("/_actions/sessions", headers=_bearer(secret))
    assert response.status_code == 201, response.text
    session_id: str = response.json()["session_id"]
    return session_id


class TestJitConfig:
    async def test_encoded_config_has_the_documented_shape(self, github: GitHub) -> None:
        body = {"name": "r1", "runner_group_id": 1, "labels": ["a"], "work_folder": "w"}
        response = await github.client.post(f"{RUNNERS}/generate-jitconfig", json=body)
        outer = json.loads(base64.b64decode(response.json()["encoded_jit_config"]))
        assert set(outer) == {".runner", ".credentials"}
        runner = json.loads(base64.b64decode(outer[".runner"]))
        assert runner["ServerUrl"] == f"{github.emulator.url}/_actions"
        assert (runner["AgentName"], runner["WorkFolder"], runner["Ephemeral"]) == ("r1", "w", True)
        assert runner["AgentId"] == response.json()["runner"]["id"]
        assert set(runner) == {
            "AgentId",
            "AgentName",
            "PoolId",
            "ServerUrl",
            "GitHubUrl",
            "WorkFolder",
            "Ephemeral",
        }
        credentials = json.loads(base64.b64decode(outer[".credentials"]))
        assert credentials["Scheme"] == "OAuth" and credentials["Data"]["token"]


class TestSession:
    async def test_full_cycle_with_runner_status_over_time(
        self, github: GitHub, receiver: Receiver
    ) -> None:
        run = await github.run(
            {"name": "build", "labels": ["A"], "duration_seconds": 2, "conclusion": "failure"}
        )
        runner_id, secret = await github.jit("r1", ["a", "b"])

        async def status() -> httpx.Response:
            return await github.client.get(f"{RUNNERS}/{runner_id}")

        assert (await status()).json()["status"] == "offline"
        session = await _session(github, secret)
        online = (await status()).json()
        assert (online["status"], online["busy"]) == ("online", False)
        job = await github.client.get(
            f"/_actions/sessions/{session}/job?wait=1", headers=_bearer(secret)
        )
        assert job.status_code == 200
        assert job.json() == {
            "job_id": run["jobs"][0]["id"],
            "run_id": run["id"],
            "name": "build",
            "labels": ["A"],
            "duration_seconds": 2.0,
            "conclusion": "failure",
        }
        assert (await status()).json()["busy"] is True
        rest_job = await github.client.get(f"/repos/{REPO}/actions/jobs/{run['jobs'][0]['id']}")
        assert (rest_job.json()["status"], rest_job.json()["runner_id"]) == (
            "in_progress",
            runner_id,
        )
        done = await github.client.post(
            f"/_actions/jobs/{run['jobs'][0]['id']}/complete",
            json={"conclusion": "failure"},
            headers=_bearer(secret),
        )
        assert done.status_code == 200
        assert (await status()).status_code == 404  # the JIT runner is gone
        bye = await github.client.delete(f"/_actions/sessions/{session}", headers=_bearer(secret))
        assert bye.status_code == 204
        rest_job = await github.client.get(f"/repos/{REPO}/actions/jobs/{run['jobs'][0]['id']}")
        assert (rest_job.json()["status"], rest_job.json()["conclusion"]) == (
            "completed",
            "failure",
        )

    async def test_no_job_answers_204_after_the_wait(self, github: GitHub) -> None:
        _, secret = await github.jit("r1", ["a"])
        session = await _session(github, secret)
        response = await github.client.get(
            f"/_actions/sessions/{session}/job?wait=0.1", headers=_bearer(secret)
        )
        assert response.status_code == 204

    async def test_used_credential_is_401(self, github: GitHub) -> None:
        await github.run({"name": "build", "labels": ["a"]})
        _, secret = await github.jit("r1", ["a"])
        session = await _session(github, secret)
        job = await github.client.get(f"/_actions/sessions/{session}/job", headers=_bearer(secret))
        await github.client.post(
            f"/_actions/jobs/{job.json()['job_id']}/complete",
            json={"conclusion": "success"},
            headers=_bearer(secret),
        )
        again = await github.client.post("/_actions/sessions", headers=_bearer(secret))
        assert again.status_code == 401 and "message" in again.json()

    async def test_unknown_and_expired_credentials_are_401(self, github: GitHub) -> None:
        unknown = await github.client.post("/_actions/sessions", headers=_bearer("nope"))
        assert unknown.status_code == 401
        _, secret = await github.jit("r1", ["a"])
        await github.client.post("/_sim/clock", json={"advance_seconds": 601})  # JIT timeout
        expired = await github.client.post("/_actions/sessions", headers=_bearer(secret))
        assert expired.status_code == 401
        assert (await github.client.get(RUNNERS)).json()["total_count"] == 0

    async def test_closing_the_session_takes_the_runner_offline(self, github: GitHub) -> None:
        runner_id, secret = await github.jit("r1", ["a"])
        session = await _session(github, secret)
        await github.client.delete(f"/_actions/sessions/{session}", headers=_bearer(secret))
        runner = (await github.client.get(f"{RUNNERS}/{runner_id}")).json()
        assert runner["status"] == "offline"


class TestRegister:
    async def test_registration_token_mode(self, github: GitHub) -> None:
        token = (await github.client.post(f"{RUNNERS}/registration-token")).json()["token"]
        body = {"token": token, "name": "cfg", "labels": ["a"], "ephemeral": True}
        response = await github.client.post("/_actions/register", json=body)
        assert response.status_code == 201
        outer = json.loads(base64.b64decode(response.json()["jit_config"]))
        secret = json.loads(base64.b64decode(outer[".credentials"]))["Data"]["token"]
        assert await _session(github, secret)
        listed = (await github.client.get(RUNNERS, params={"name": "cfg"})).json()["runners"]
        assert [r["id"] for r in listed] == [response.json()["runner_id"]]

    async def test_expired_or_remove_token_is_401(self, github: GitHub) -> None:
        remove = (await github.client.post(f"{RUNNERS}/remove-token")).json()["token"]
        body = {"token": remove, "name": "cfg", "labels": ["a"], "ephemeral": True}
        assert (await github.client.post("/_actions/register", json=body)).status_code == 401
        token = (await github.client.post(f"{RUNNERS}/registration-token")).json()["token"]
        await github.client.post("/_sim/clock", json={"advance_seconds": 3600})
        body["token"] = token
        assert (await github.client.post("/_actions/register", json=body)).status_code == 401
