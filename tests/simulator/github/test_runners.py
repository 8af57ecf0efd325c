"""Organization runners over HTTP: JIT configs in groups, tokens, listings, removal, and
registration into a group through the simulator-only runner API."""

from __future__ import annotations

import base64
import json

import pytest

from tests.simulator.github.conftest import GitHub, jit_secret

ORG_RUNNERS = "/orgs/acme/actions/runners"


async def _group(github: GitHub, name: str) -> int:
    made = await github.client.post("/orgs/acme/actions/runner-groups", json={"name": name})
    assert made.status_code == 201, made.text
    group_id: int = made.json()["id"]
    return group_id


class TestGenerateJitconfig:
    async def test_the_runner_joins_the_group_and_its_config_points_at_the_org(
        self, github: GitHub
    ) -> None:
        group_id = await _group(github, "gpu")
        body = {"name": "org-1", "runner_group_id": group_id, "labels": ["gpu"]}
        made = await github.client.post(f"{ORG_RUNNERS}/generate-jitconfig", json=body)
        assert made.status_code == 201
        runner = made.json()["runner"]
        assert (runner["runner_group_id"], runner["status"], runner["busy"]) == (
            group_id,
            "offline",
            False,
        )
        outer = json.loads(base64.b64decode(made.json()["encoded_jit_config"]))
        dot_runner = json.loads(base64.b64decode(outer[".runner"]))
        assert (dot_runner["PoolId"], dot_runner["GitHubUrl"]) == (
            group_id,
            f"{github.emulator.url}/acme",
        )

    @pytest.mark.parametrize(
        ("body", "status"),
        [
            ({"name": "r", "labels": ["a"]}, 422),  # runner_group_id is required
            ({"name": "r", "runner_group_id": 77, "labels": ["a"]}, 404),
            ({"name": "r", "runner_group_id": 1, "labels": []}, 422),
            ({"name": "r", "runner_group_id": 1, "labels": ["a"] * 101}, 422),
            ({"name": "taken", "runner_group_id": 1, "labels": ["a"]}, 409),
        ],
    )
    async def test_errors_change_nothing(self, github: GitHub, body: dict, status: int) -> None:
        await github.jit("taken", ["a"], org="acme")
        answer = await github.client.post(f"{ORG_RUNNERS}/generate-jitconfig", json=body)
        assert answer.status_code == status, answer.text
        assert (await github.client.get(ORG_RUNNERS)).json()["total_count"] == 1

    async def test_a_group_of_another_org_is_not_found(self, github: GitHub) -> None:
        group_id = await _group(github, "gpu")
        await github.client.post("/_sim/orgs", json={"login": "widgets"})
        body = {"name": "r", "runner_group_id": group_id, "labels": ["a"]}
        path = "/orgs/widgets/actions/runners/generate-jitconfig"
        assert (await github.client.post(path, json=body)).status_code == 404
        unknown = "/orgs/nobody/actions/runners/generate-jitconfig"
        assert (
            await github.client.post(unknown, json={**body, "runner_group_id": 1})
        ).status_code == 404


class TestTokens:
    async def test_registration_and_remove_tokens_at_org_scope(self, github: GitHub) -> None:
        for kind in ("registration-token", "remove-token"):
            made = await github.client.post(f"{ORG_RUNNERS}/{kind}")
            assert made.status_code == 201 and len(made.json()["token"]) == 29
        assert (
            await github.client.post("/orgs/nobody/actions/runners/registration-token")
        ).status_code == 404


class TestListGetDelete:
    async def test_list_by_name_get_and_delete(self, github: GitHub) -> None:
        for index in range(3):
            await github.jit(f"org-{index}", ["a"], org="acme")
        named = (await github.client.get(ORG_RUNNERS, params={"name": "org-1"})).json()
        assert [r["name"] for r in named["runners"]] == ["org-1"] and named["total_count"] == 1
        page = await github.client.get(ORG_RUNNERS, params={"per_page": 2, "page": 2})
        assert page.json()["total_count"] == 3 and len(page.json()["runners"]) == 1
        runner_id = named["runners"][0]["id"]
        assert (await github.client.get(f"{ORG_RUNNERS}/{runner_id}")).json()["name"] == "org-1"
        assert (await github.client.delete(f"{ORG_RUNNERS}/{runner_id}")).status_code == 204
        assert (await github.client.get(f"{ORG_RUNNERS}/{runner_id}")).status_code == 404

    async def test_repository_runners_are_not_org_runners(self, github: GitHub) -> None:
        repo_runner, _ = await github.jit("repo-1", ["a"])
        assert (await github.client.get(ORG_RUNNERS)).json()["total_count"] == 0
        assert (await github.client.get(f"{ORG_RUNNERS}/{repo_runner}")).status_code == 404
        assert (await github.client.delete(f"{ORG_RUNNERS}/{repo_runner}")).status_code == 404

    async def test_a_busy_org_runner_cannot_be_deleted(self, github: GitHub) -> None:
        await github.client.post("/_sim/repos", json={"full_name": "acme/secret", "private": True})
        await github.client.post(
            "/_sim/repos/acme/secret/runs", json={"jobs": [{"name": "b", "labels": ["a"]}]}
        )
        runner_id, secret = await github.jit("busy", ["a"], org="acme")
        assert await github.take(secret) is not None
        answer = await github.client.delete(f"{ORG_RUNNERS}/{runner_id}")
        assert answer.status_code == 422 and "still running a job" in answer.json()["message"]
        listed = (await github.client.get(ORG_RUNNERS)).json()["runners"]
        assert [(r["status"], r["busy"]) for r in listed] == [("online", True)]


class TestRegisterRunner:
    async def _register(self, github: GitHub, token: str, **extra: str) -> tuple[int, dict]:
        body = {"token": token, "name": "reg-1", "labels": ["a"], "ephemeral": True, **extra}
        answer = await github.client.post("/_actions/register", json=body)
        return answer.status_code, answer.json()

    async def test_config_sh_runnergroup_puts_an_org_runner_in_that_group(
        self, github: GitHub
    ) -> None:
        group_id = await _group(github, "GPU")
        token = (await github.client.post(f"{ORG_RUNNERS}/registration-token")).json()["token"]
        status, body = await self._register(github, token, runner_group="gpu")
        assert status == 201 and jit_secret(body["jit_config"])
        runner = (await github.client.get(f"{ORG_RUNNERS}/{body['runner_id']}")).json()
        assert runner["runner_group_id"] == group_id

    async def test_without_a_group_the_runner_joins_default(self, github: GitHub) -> None:
        token = (await github.client.post(f"{ORG_RUNNERS}/registration-token")).json()["token"]
        status, body = await self._register(github, token)
        runner = (await github.client.get(f"{ORG_RUNNERS}/{body['runner_id']}")).json()
        assert (status, runner["runner_group_id"]) == (201, 1)

    @pytest.mark.parametrize("scope", ["/orgs/acme", "/repos/acme/app"])
    async def test_an_unknown_group_is_refused(self, github: GitHub, scope: str) -> None:
        path = f"{scope}/actions/runners/registration-token"
        token = (await github.client.post(path)).json()["token"]
        status, body = await self._register(github, token, runner_group="nope")
        assert status == 404
        assert body["message"] == 'Could not find any self-hosted runner group named "nope".'
        runners = (await github.client.get(f"{scope}/actions/runners")).json()
        assert runners["total_count"] == 0
