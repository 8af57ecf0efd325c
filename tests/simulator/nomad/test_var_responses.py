"""`/v1/var/:path` and `/v1/vars` over real HTTP: Nomad's statuses, bodies and headers."""

from __future__ import annotations

import json

import httpx

from .conftest import text_error

VAR = "/v1/var/nomad/jobs/rod"
ITEMS = {"Items": {"GITHUB_TOKEN": "ghp_x", "NOMAD_TOKEN": "n#1"}}


async def put(client: httpx.AsyncClient, path: str = VAR, **params: str) -> httpx.Response:
    return await client.put(path, json=ITEMS, params=params)


class TestUpsertAndRead:
    async def test_put_then_get(self, client: httpx.AsyncClient) -> None:
        created = await put(client)
        assert created.status_code == 200
        body = created.json()
        assert body["Path"] == "nomad/jobs/rod" and body["Namespace"] == "default"
        assert body["Items"] == ITEMS["Items"]
        assert body["CreateIndex"] == body["ModifyIndex"] == int(created.headers["x-nomad-index"])
        read = await client.get(VAR)
        assert read.json() == body
        assert read.headers["x-nomad-index"] == str(body["ModifyIndex"])

    async def test_missing_is_404_text(self, client: httpx.AsyncClient) -> None:
        text_error(await client.get("/v1/var/nomad/jobs/none"), 404, "variable not found")

    async def test_post_is_an_upsert_and_other_methods_are_400(
        self, client: httpx.AsyncClient
    ) -> None:
        assert (await client.post(VAR, json=ITEMS)).status_code == 200
        text_error(await client.patch(VAR, json=ITEMS), 400, "Invalid method")
        text_error(await client.post("/v1/vars"), 405, "Invalid method")

    async def test_body_errors(self, client: httpx.AsyncClient) -> None:
        text_error(await client.put(VAR), 400, "Request body is empty")
        text_error(
            await client.put(VAR, json={"Items": {}}), 400, "variable missing required Items object"
        )
        text_error(
            await client.put(VAR, json={"Items": {"A": 1}}),
            400,
            "json: cannot unmarshal number into Go struct field "
            "VariableDecrypted.Items of type string",
        )
        text_error(await client.put("/v1/var/", json=ITEMS), 400, "missing variable path")
        text_error(
            await put(client, cas="x"),
            400,
            'can not parse cas: strconv.ParseUint: parsing "x": invalid syntax',
        )

    async def test_validation_errors_are_500s_as_nomad_answers(
        self, client: httpx.AsyncClient
    ) -> None:
        # VariableDecrypted.Validate / validatePath return plain errors (nomad/structs/
        # variables.go); Variables.Apply passes them on and errCodeFromHandler makes them 500s.
        text_error(await client.put("/v1/var/a.b", json=ITEMS), 500, 'invalid path "a.b"')
        text_error(
            await client.put("/v1/var/nomad/other", json=ITEMS),
            500,
            'only paths at "nomad/jobs" or "nomad/job-templates" and below are valid paths under '
            'the top-level "nomad" directory',
        )
        big = {"Items": {"k": "x" * 70000}}
        text_error(
            await client.put(VAR, json=big), 500, "variables are limited to 64KiB in total size"
        )
        wildcard = await client.put(VAR, json=ITEMS, params={"namespace": "*"})
        text_error(wildcard, 500, 'can not target wildcard ("*")namespace')
        assert (await client.get("/v1/vars", params={"namespace": "*"})).json() == []

    async def test_locks_are_refused_not_ignored(self, client: httpx.AsyncClient) -> None:
        refused = await put(client, **{"lock-acquire": ""})
        text_error(refused, 400, "variable locks are not supported by the Nomad emulator")

    async def test_list_by_prefix_without_items(self, client: httpx.AsyncClient) -> None:
        assert (await client.get("/v1/vars")).json() == []
        await put(client)
        await put(client, "/v1/var/nomad/jobs/github-runner/rod-1-1")
        listed = (await client.get("/v1/vars", params={"prefix": "nomad/jobs/g"})).json()
        assert [v["Path"] for v in listed] == ["nomad/jobs/github-runner/rod-1-1"]
        assert "Items" not in listed[0]


class TestCheckAndSet:
    async def test_cas_conflict_is_409_with_the_current_variable(
        self, client: httpx.AsyncClient
    ) -> None:
        first = (await put(client, cas="0")).json()
        conflict = await put(client, cas="0")
        assert conflict.status_code == 409
        # Nomad writes the 409 header before the JSON body: Go sniffs it as text/plain.
        assert conflict.headers["content-type"].startswith("text/plain")
        assert json.loads(conflict.text) == first
        assert conflict.headers["x-nomad-index"] == str(first["ModifyIndex"])
        updated = await put(client, cas=str(first["ModifyIndex"]))
        assert updated.status_code == 200

    async def test_delete(self, client: httpx.AsyncClient) -> None:
        first = (await put(client)).json()
        stale = await client.delete(VAR, params={"cas": str(first["ModifyIndex"] + 1)})
        assert stale.status_code == 409
        gone = await client.delete(VAR, params={"cas": str(first["ModifyIndex"])})
        assert (gone.status_code, gone.content) == (204, b"")
        assert int(gone.headers["x-nomad-index"]) > first["ModifyIndex"]
        assert (await client.get(VAR)).status_code == 404
        assert (await client.delete(VAR)).status_code == 204  # deleting nothing succeeds
