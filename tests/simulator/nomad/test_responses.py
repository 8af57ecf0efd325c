"""simulator.nomad.responses over HTTP, in-process (ASGI) and served (uvicorn) alike."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from simulator.nomad import NomadEmulator

from .conftest import SPEC, b64, batch_job, parameterized_job, register, text_error, variables

DISPATCH = "/v1/job/sim/dispatch"
GOOD = {"Meta": {"need": "1"}, "Payload": b64("p")}


@pytest.fixture
async def parent(client: httpx.AsyncClient) -> None:
    await register(client, parameterized_job())


async def children(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    response = await client.get("/v1/jobs", params={"prefix": "sim/"})
    result: list[dict[str, Any]] = response.json()
    return [stub for stub in result if stub["ParentID"] == "sim"]


class TestRegistration:
    async def test_parse_real_spec_and_register(self, client: httpx.AsyncClient) -> None:
        body = {"JobHCL": SPEC.read_text(), "Variables": variables("/bin/echo", ["hi"])}
        parsed = await client.post("/v1/jobs/parse", json=body)
        assert parsed.status_code == 200
        job = parsed.json()
        assert job["TaskGroups"][0]["Tasks"][0]["Config"]["args"] == ["hi"]
        reply = await register(client, job)
        assert reply["EvalID"] == "" and reply["Index"] >= 2
        got = await client.get("/v1/job/github-runner")
        assert got.json()["ParameterizedJob"]["Payload"] == "required"
        assert got.headers["x-nomad-index"] == str(got.json()["ModifyIndex"])

    async def test_register_by_id_put(self, client: httpx.AsyncClient) -> None:
        response = await client.put("/v1/job/web", json={"Job": batch_job()})
        assert response.status_code == 200 and response.json()["EvalID"]

    @pytest.mark.parametrize(
        ("path", "body", "message"),
        [
            ("/v1/jobs", {}, "Job must be specified"),
            ("/v1/jobs", {"Job": {"Type": "batch"}}, "Job ID hasn't been provided"),
            ("/v1/job/other", {"Job": batch_job()}, "Job ID does not match name"),
        ],
    )
    async def test_register_400s(
        self, client: httpx.AsyncClient, path: str, body: dict[str, Any], message: str
    ) -> None:
        text_error(await client.post(path, json=body), 400, message)

    async def test_parse_errors(self, client: httpx.AsyncClient) -> None:
        text_error(
            await client.post("/v1/jobs/parse", json={"JobHCL": ""}), 400, "Job spec is empty"
        )
        bad = await client.post("/v1/jobs/parse", json={"JobHCL": 'job "x" { zzz = 1 }'})
        assert bad.status_code == 400 and bad.text.startswith("Failed to parse job: ")


class TestDispatch:
    @pytest.mark.parametrize("method", ["PUT", "POST"])
    async def test_put_and_post(self, client: httpx.AsyncClient, parent: None, method: str) -> None:
        response = await client.request(method, DISPATCH, json=GOOD)
        assert response.status_code == 200
        reply = response.json()
        assert set(reply) == {
            "DispatchedJobID",
            "EvalID",
            "EvalCreateIndex",
            "JobCreateIndex",
            "Index",
        }
        assert response.headers["x-nomad-index"] == str(reply["Index"])

    async def test_other_methods_405(self, client: httpx.AsyncClient, parent: None) -> None:
        text_error(await client.get(DISPATCH), 405, "Invalid method")

    @pytest.mark.parametrize(
        ("content", "message"),
        [
            (b"", "Request body is empty"),
            (
                b'{"Meta": {"need": 1}}',
                "json: cannot unmarshal number into Go struct field "
                "JobDispatchRequest.Meta of type string",
            ),
            (b'{"JobID": "other"}', "Job ID does not match"),
        ],
    )
    async def test_400s(
        self, client: httpx.AsyncClient, parent: None, content: bytes, message: str
    ) -> None:
        text_error(await client.post(DISPATCH, content=content), 400, message)

    async def test_malformed_json_and_base64_are_400(
        self, client: httpx.AsyncClient, parent: None
    ) -> None:
        assert (await client.post(DISPATCH, content=b"{nope")).status_code == 400
        bad = await client.post(DISPATCH, json={"Payload": "QQ=x"})
        text_error(bad, 400, "illegal base64 data at input byte 2")  # encoding/base64's text

    async def test_validation_is_500_text(self, client: httpx.AsyncClient, parent: None) -> None:
        response = await client.post(DISPATCH, json={"Meta": {}})
        text_error(response, 500, "Dispatch did not provide required meta keys: [need]")
        text_error(
            await client.post("/v1/job/x/dispatch", json={}), 500, "parameterized job not found"
        )

    async def test_child_id_with_slash_is_addressable(
        self, client: httpx.AsyncClient, parent: None
    ) -> None:
        child = (await client.post(DISPATCH, json=GOOD)).json()["DispatchedJobID"]
        got = (await client.get(f"/v1/job/{child}")).json()
        assert got["Dispatched"] is True and got["Payload"] == b64("p")
        assert got["Meta"] == {"team": "ci", "need": "1"}
        nested = await client.post(f"/v1/job/{child}/dispatch", json=GOOD)
        text_error(nested, 500, f'Specified job "{child}" is not a parameterized job')

    async def test_query_token_dedupes(self, client: httpx.AsyncClient, parent: None) -> None:
        first = await client.post(DISPATCH, params={"idempotency_token": "t"}, json=GOOD)
        again = await client.post(DISPATCH, params={"idempotency_token": "t"}, json=GOOD)
        assert again.status_code == 200
        assert again.json()["DispatchedJobID"] == first.json()["DispatchedJobID"]
        assert again.json()["EvalID"] == "" and again.json()["EvalCreateIndex"] == 0
        got = await client.get(f"/v1/job/{first.json()['DispatchedJobID']}")
        assert got.json()["DispatchIdempotencyToken"] == "t"
        assert len(await children(client)) == 1

    async def test_pascal_body_key_works_snake_case_is_ignored(
        self, client: httpx.AsyncClient, parent: None
    ) -> None:
        pascal = [await client.post(DISPATCH, json={**GOOD, "IdempotencyToken": "p"}) for _ in "ab"]
        assert pascal[0].json()["DispatchedJobID"] == pascal[1].json()["DispatchedJobID"]
        snake = [await client.post(DISPATCH, json={**GOOD, "idempotency_token": "s"}) for _ in "ab"]
        assert snake[0].json()["DispatchedJobID"] != snake[1].json()["DispatchedJobID"]
        assert len(await children(client)) == 3


class TestReads:
    async def test_empty_list_is_array(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/v1/jobs")
        assert response.json() == [] and "x-nomad-index" in response.headers

    async def test_list_prefix_meta(self, client: httpx.AsyncClient, parent: None) -> None:
        await register(client, parameterized_job("sim-other"))
        child = (await client.post(DISPATCH, json=GOOD)).json()["DispatchedJobID"]
        listed = (await client.get("/v1/jobs", params={"prefix": "sim"})).json()
        assert [j["ID"] for j in listed] == sorted(["sim", "sim-other", child])
        assert "Meta" not in listed[0]
        stubs = (await client.get("/v1/jobs", params={"prefix": "sim/", "meta": "true"})).json()
        assert [(s["ID"], s["ParameterizedJob"], s["Meta"]["need"]) for s in stubs] == [
            (child, False, "1")
        ]

    async def test_pages_in_id_order_with_the_next_token(
        self, client: httpx.AsyncClient, parent: None
    ) -> None:
        # nomad/state/paginator: after `per_page` stubs, X-Nomad-NextToken is the next stub's
        # `<namespace>.<id>`; `next_token` resumes there; the last page sends no header.
        await register(client, parameterized_job("sim-other"))
        child = (await client.post(DISPATCH, json=GOOD)).json()["DispatchedJobID"]
        first = await client.get("/v1/jobs", params={"prefix": "sim", "per_page": "1"})
        assert [j["ID"] for j in first.json()] == ["sim"]  # "sim" < "sim-other" < "sim/..."
        assert first.headers["x-nomad-nexttoken"] == "default.sim-other"
        params = {"prefix": "sim", "per_page": "1", "next_token": "default.sim-other"}
        second = await client.get("/v1/jobs", params=params)
        assert [j["ID"] for j in second.json()] == ["sim-other"]
        assert second.headers["x-nomad-nexttoken"] == f"default.{child}"
        last = await client.get("/v1/jobs", params={**params, "next_token": f"default.{child}"})
        assert [j["ID"] for j in last.json()] == [child]
        assert "x-nomad-nexttoken" not in last.headers
        whole = await client.get("/v1/jobs", params={"prefix": "sim", "per_page": "3"})
        assert len(whole.json()) == 3 and "x-nomad-nexttoken" not in whole.headers

    @pytest.mark.parametrize("per_page", ["x", "1.5", "2147483648", " 1"])
    async def test_per_page_must_be_an_int32(
        self, client: httpx.AsyncClient, per_page: str
    ) -> None:
        response = await client.get("/v1/jobs", params={"per_page": per_page})
        text_error(response, 400, "Expect a number for `per_page` query string parameter")

    async def test_filter_is_refused_not_ignored(
        self, client: httpx.AsyncClient, parent: None
    ) -> None:
        response = await client.get("/v1/jobs", params={"filter": 'ParentID == "sim"'})
        assert response.status_code == 400
        assert response.text == "filter expressions are not supported by the Nomad emulator"

    async def test_summary_and_allocations(self, client: httpx.AsyncClient, parent: None) -> None:
        child = (await client.post(DISPATCH, json=GOOD)).json()["DispatchedJobID"]
        summary = (await client.get("/v1/job/sim/summary")).json()
        assert set(summary["Children"]) == {"Pending", "Running", "Dead"}
        assert sum(summary["Children"].values()) == 1
        allocs = await client.get(f"/v1/job/{child}/allocations")
        assert len(allocs.json()) == 1 and allocs.json()[0]["JobID"] == child
        unknown = await client.get("/v1/job/ghost/allocations")
        assert (unknown.status_code, unknown.json()) == (200, [])
        text_error(await client.get("/v1/job/ghost"), 404, "job not found")
        text_error(await client.get("/v1/job/ghost/summary"), 404, "job not found")

    async def test_delete(self, client: httpx.AsyncClient, parent: None) -> None:
        zeros = (await client.delete("/v1/job/ghost")).json()
        assert (zeros["EvalID"], zeros["Index"], zeros["JobModifyIndex"]) == ("", 0, 0)
        stopped = await client.delete("/v1/job/sim")
        assert stopped.status_code == 200
        job = (await client.get("/v1/job/sim")).json()
        assert job["Stop"] is True and job["Status"] == "dead"
        await client.delete("/v1/job/sim", params={"purge": "true"})
        assert (await client.get("/v1/job/sim")).status_code == 404

    async def test_gc_put_only_empty_body(self, client: httpx.AsyncClient, parent: None) -> None:
        await client.delete("/v1/job/sim")
        text_error(await client.post("/v1/system/gc"), 405, "Invalid method")
        response = await client.put("/v1/system/gc")
        assert (response.status_code, response.content) == (200, b"")
        assert (await client.get("/v1/job/sim")).status_code == 404

    async def test_agent_status_nodes(self, client: httpx.AsyncClient) -> None:
        health = await client.get("/v1/agent/health")
        assert health.json() == {
            "client": {"ok": True, "message": "ok"},
            "server": {"ok": True, "message": "ok"},
        }
        assert (await client.get("/v1/status/leader")).json() == "127.0.0.1:4647"
        (node,) = (await client.get("/v1/nodes")).json()
        assert node["Status"] == "ready" and node["Drivers"]["raw_exec"]["Healthy"] is True
        assert node["NodeResources"]["Cpu"]["CpuShares"] == 4000

    async def test_unknown_route(self, client: httpx.AsyncClient) -> None:
        text_error(await client.get("/v1/nothing/here"), 404, "404 page not found\n")


async def woken_by_a_dispatch(client: httpx.AsyncClient, path: str, index: int) -> httpx.Response:
    """A blocking read of `path` at `index`: still waiting, then woken by a dispatch."""
    waiting = asyncio.create_task(client.get(path, params={"index": index, "wait": "60s"}))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    await client.post(DISPATCH, json=GOOD)
    return await asyncio.wait_for(waiting, 10)


class TestBlockingQueries:
    async def test_list_wakes_on_dispatch(self, client: httpx.AsyncClient, parent: None) -> None:
        index = int((await client.get("/v1/jobs")).headers["x-nomad-index"])
        response = await woken_by_a_dispatch(client, "/v1/jobs", index)
        assert int(response.headers["x-nomad-index"]) > index and len(response.json()) == 2

    async def test_job_read_times_out_with_same_index(
        self, client: httpx.AsyncClient, parent: None
    ) -> None:
        first = await client.get("/v1/job/sim")
        index = first.headers["x-nomad-index"]
        again = await client.get("/v1/job/sim", params={"index": index, "wait": "50ms"})
        assert again.headers["x-nomad-index"] == index

    async def test_allocations_wake(self, client: httpx.AsyncClient, parent: None) -> None:
        index = int((await client.get("/v1/job/x/allocations")).headers["x-nomad-index"])
        response = await woken_by_a_dispatch(client, "/v1/job/x/allocations", index)
        assert int(response.headers["x-nomad-index"]) > index

    async def test_summary_blocks_until_its_counts_change(
        self, client: httpx.AsyncClient, parent: None
    ) -> None:
        # Job.Summary is a blocking query on the job_summary table (nomad/job_endpoint.go).
        first = await client.get("/v1/job/sim/summary")
        index = int(first.headers["x-nomad-index"])
        assert first.json()["ModifyIndex"] == index
        await register(client, parameterized_job("other"))  # an index bump, not this summary's
        same = await client.get("/v1/job/sim/summary", params={"index": index, "wait": "50ms"})
        assert (int(same.headers["x-nomad-index"]), same.json()) == (index, first.json())
        woken = await woken_by_a_dispatch(client, "/v1/job/sim/summary", index)
        assert int(woken.headers["x-nomad-index"]) > index
        assert sum(woken.json()["Children"].values()) == 1

    @pytest.mark.parametrize(
        ("params", "message"),
        [({"wait": "soon"}, "Invalid wait time"), ({"index": "x"}, "Invalid index")],
    )
    async def test_bad_parameters(
        self, client: httpx.AsyncClient, params: dict[str, str], message: str
    ) -> None:
        text_error(await client.get("/v1/jobs", params=params), 400, message)


class TestAcl:
    @pytest.fixture
    async def secured(self) -> Any:
        emu = NomadEmulator(acl_token="s3cret")
        async with emu.client() as c:
            yield c
        emu.stop()

    @pytest.mark.parametrize(
        "headers",
        [{}, {"X-Nomad-Token": "wrong"}, {"Authorization": "Bearer wrong"}],
    )
    async def test_denied(self, secured: httpx.AsyncClient, headers: dict[str, str]) -> None:
        text_error(await secured.get("/v1/jobs", headers=headers), 403, "Permission denied")
        text_error(
            await secured.post(DISPATCH, json=GOOD, headers=headers), 403, "Permission denied"
        )

    @pytest.mark.parametrize(
        "headers",
        [
            {"X-Nomad-Token": "s3cret"},
            {"Authorization": "Bearer s3cret"},
            {"X-Nomad-Token": "s3cret", "Authorization": "Bearer wrong"},
        ],
    )
    async def test_allowed(self, secured: httpx.AsyncClient, headers: dict[str, str]) -> None:
        assert (await secured.get("/v1/jobs", headers=headers)).status_code == 200

    async def test_health_needs_no_token(self, secured: httpx.AsyncClient) -> None:
        assert (await secured.get("/v1/agent/health")).status_code == 200

    async def test_namespace_parameter(self, client: httpx.AsyncClient, parent: None) -> None:
        assert (await client.get("/v1/job/sim", params={"namespace": "other"})).status_code == 404
        assert len((await client.get("/v1/jobs", params={"namespace": "*"})).json()) == 1
