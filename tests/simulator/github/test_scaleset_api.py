"""The emulated Actions service over HTTP: the auth chain, scale set CRUD, runners, error bodies."""

from __future__ import annotations

from typing import Any

import httpx
import jwt

from tests.simulator.github.conftest import REPO, GitHub, Listener

RSS = "_apis/runtime/runnerscalesets"
AGENTS = "_apis/distributedtask/pools/0/agents"


def type_of(response: httpx.Response) -> str:
    """The exception's short name from a `{typeName, message}` body."""
    body: dict[str, Any] = response.json()
    assert isinstance(body["message"], str) and body["message"]
    return str(body["typeName"]).split(",")[0].rsplit(".", 1)[-1]


class TestAuthChain:
    async def test_registration_token_buys_service_url_and_admin_token(
        self, github: GitHub
    ) -> None:
        driver = Listener(github)

        response = await driver.register()

        assert response.status_code == 201
        body = response.json()
        assert body["url"] == f"{github.emulator.url}/_services/broker/rest/"
        claims = jwt.decode(body["token"], options={"verify_signature": False})
        now = (await github.client.get("/_sim/clock")).json()["now"]
        assert claims["exp"] - now > 3500  # one hour of emulator time
        assert (await driver.api("GET", RSS)).status_code == 200

    async def test_organization_scope_and_the_root_path(self, github: GitHub) -> None:
        driver = Listener(github)
        response = await driver.register(config_path="acme", scope="/orgs/acme")
        assert response.status_code == 201

        created = await driver.create_scale_set("org-set")

        repo_driver = Listener(github)
        await repo_driver.register()
        listed = (await repo_driver.api("GET", RSS, params={"name": "org-set"})).json()
        assert created["id"] and listed == {"count": 0, "value": []}  # scopes do not mix

    async def test_bad_registration_token_or_url(self, github: GitHub) -> None:
        bad = await github.client.post(
            "/actions/runner-registration",
            headers={"Authorization": "RemoteAuth NOPE"},
            json={"url": f"{github.emulator.url}/{REPO}", "runner_event": "register"},
        )
        assert bad.status_code == 401

        other_repo = await Listener(github).register(config_path="octo-user/tool")
        assert other_repo.status_code == 404  # the token is for acme/app

    async def test_admin_token_expires_with_the_emulator_clock(self, listener: Listener) -> None:
        assert (await listener.api("GET", RSS)).status_code == 200

        await listener.client.post("/_sim/clock", json={"advance_seconds": 3601})

        expired = await listener.api("GET", RSS)
        assert expired.status_code == 401
        assert type_of(expired) == "VssUnauthorizedException"
        assert (await listener.register()).status_code == 201  # the refresh: the chain again
        assert (await listener.api("GET", RSS)).status_code == 200

    async def test_missing_api_version_or_token(self, listener: Listener) -> None:
        no_version = await listener.client.get(
            listener.service_url + RSS, headers={"Authorization": f"Bearer {listener.admin_token}"}
        )
        assert no_version.status_code == 400
        assert type_of(no_version) == "VssVersionNotSpecifiedException"

        no_token = await listener.client.get(
            listener.service_url + RSS, params={"api-version": "6.0-preview"}, headers={}
        )
        assert no_token.status_code == 401


class TestRunnerGroups:
    async def test_default_group_by_name_any_case(self, listener: Listener) -> None:
        response = await listener.api(
            "GET", "_apis/runtime/runnergroups/", params={"groupName": "default"}
        )

        assert response.status_code == 200
        assert response.json() == {
            "count": 1,
            "value": [{"id": 1, "name": "Default", "size": 0, "isDefaultGroup": True}],
        }
        missing = await listener.api(
            "GET", "_apis/runtime/runnergroups/", params={"groupName": "gpu"}
        )
        assert missing.json() == {"count": 0, "value": []}


class TestScaleSetCrud:
    async def test_create_get_update_delete(self, listener: Listener) -> None:
        created = await listener.create_scale_set(
            "rod", RunnerSetting={"disableUpdate": True}, createdOn="0001-01-01T00:00:00Z"
        )

        assert created["labels"] == [{"type": "System", "name": "rod"}]
        assert (created["runnerGroupId"], created["runnerGroupName"]) == (1, "Default")
        assert created["RunnerSetting"] == {"disableUpdate": True}
        assert created["createdOn"] != "0001-01-01T00:00:00Z"
        assert created["statistics"]["totalAssignedJobs"] == 0
        one = f"{RSS}/{created['id']}"
        assert (await listener.api("GET", one)).json()["name"] == "rod"
        by_name = await listener.api("GET", RSS, params={"runnerGroupId": "1", "name": "rod"})
        assert [s["id"] for s in by_name.json()["value"]] == [created["id"]]

        patched = await listener.api(
            "PATCH", one, json={"labels": [{"name": "rod"}, {"name": "linux", "type": ""}]}
        )
        assert patched.status_code == 200
        assert patched.json()["labels"][1] == {"type": "System", "name": "linux"}
        assert patched.json()["name"] == "rod"  # absent fields are left alone

        assert (await listener.api("DELETE", one)).status_code == 204
        gone = await listener.api("GET", one)
        assert gone.status_code == 404
        assert type_of(gone) == "RunnerScaleSetNotFoundException"
        none = await listener.api("GET", RSS, params={"runnerGroupId": "1", "name": "rod"})
        assert none.json() == {"count": 0, "value": []}

    async def test_duplicate_name_unknown_group_and_bad_body(self, listener: Listener) -> None:
        await listener.create_scale_set("rod")

        duplicate = await listener.api("POST", RSS, json={"name": "rod", "runnerGroupId": 1})
        assert duplicate.status_code == 409
        assert type_of(duplicate) == "RunnerScaleSetExistsException"
        no_group = await listener.api("POST", RSS, json={"name": "x", "runnerGroupId": 7})
        assert no_group.status_code == 404
        assert type_of(no_group) == "RunnerGroupNotFoundException"
        unnamed = await listener.api("POST", RSS, json={"runnerGroupId": 1})
        assert unnamed.status_code == 400
        assert (await listener.api("GET", RSS)).json()["count"] == 1  # nothing else was made


class TestRunners:
    async def test_jit_config_lookup_and_removal(self, listener: Listener) -> None:
        scale_set = await listener.create_scale_set("rod")

        response = await listener.jit(scale_set["id"], "rod-1")

        assert response.status_code == 200
        runner = response.json()["runner"]
        assert runner["name"] == "rod-1" and runner["runnerScaleSetId"] == scale_set["id"]
        assert response.json()["encodedJITConfig"]
        duplicate = await listener.jit(scale_set["id"], "rod-1")
        assert duplicate.status_code == 409
        assert type_of(duplicate) == "AgentExistsException"
        by_id = await listener.api("GET", f"{AGENTS}/{runner['id']}")
        assert by_id.json() == runner
        by_name = await listener.api("GET", AGENTS, params={"agentName": "rod-1"})
        assert by_name.json() == {"count": 1, "value": [runner]}
        rest = await listener.client.get(f"/repos/{REPO}/actions/runners")
        assert [r["name"] for r in rest.json()["runners"]] == ["rod-1"]  # the REST view too

        assert (await listener.api("DELETE", f"{AGENTS}/{runner['id']}")).status_code == 204
        assert (await listener.api("DELETE", f"{AGENTS}/{runner['id']}")).status_code == 204
        missing = await listener.api("GET", f"{AGENTS}/{runner['id']}")
        assert missing.status_code == 404
        assert type_of(missing) == "AgentNotFoundException"
        assert (await listener.api("GET", AGENTS, params={"agentName": "rod-1"})).json() == {
            "count": 0,
            "value": [],
        }
