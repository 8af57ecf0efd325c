"""simulator.nomad.routes: the `/_sim/` control plane mounted beside the API."""

from __future__ import annotations

import re

import httpx

from simulator.nomad import NomadEmulator
from simulator.nomad.routes import API_ROUTES

from .conftest import GOOD_META, b64, parameterized_job, register


class TestControlPlane:
    async def test_state_and_reset(
        self, emulator: NomadEmulator, client: httpx.AsyncClient
    ) -> None:
        await register(client, parameterized_job())
        state = (await client.get("/_sim/state")).json()
        assert [j["ID"] for j in state["jobs"]] == ["sim"]
        assert (await client.post("/_sim/reset")).status_code == 200
        assert (await client.get("/_sim/state")).json()["jobs"] == []
        # The log was cleared too: only the request after the reset remains.
        assert (await client.get("/v1/jobs")).json() == []
        assert [r["path"] for r in (await client.get("/_sim/requests")).json()] == ["/v1/jobs"]

    async def test_state_shows_no_secret_and_reset_clears_variables(
        self, client: httpx.AsyncClient
    ) -> None:
        put = await client.put("/v1/var/nomad/jobs/rod", json={"Items": {"TOKEN": "s3cret"}})
        assert put.status_code == 200
        state = (await client.get("/_sim/state")).text
        assert "nomad/jobs/rod" in state and "s3cret" not in state
        await client.post("/_sim/reset")
        assert (await client.get("/v1/vars")).json() == []

    async def test_reset_keeps_the_preset_token_and_forgets_the_rest(self) -> None:
        emu = NomadEmulator(acl_token="root")
        root = {"X-Nomad-Token": "root"}
        async with emu.client() as client:
            policy = {"Name": "p", "Rules": 'namespace "default" { policy = "read" }'}
            await client.put("/v1/acl/policy/p", json=policy, headers=root)
            await client.post("/_sim/reset")
            assert (await client.get("/v1/acl/policies", headers=root)).json() == []
            bootstrap = await client.post("/v1/acl/bootstrap")
            assert bootstrap.status_code == 400  # the preset token counts as the bootstrap
        emu.stop()

    async def test_request_log(self, client: httpx.AsyncClient) -> None:
        await client.get("/v1/jobs", params={"prefix": "x"})
        (logged,) = (await client.get("/_sim/requests", params={"path": "/v1/jobs"})).json()
        assert (logged["method"], logged["query"], logged["status"]) == ("GET", "prefix=x", 200)

    async def test_fault_on_dispatch(self, client: httpx.AsyncClient) -> None:
        await register(client, parameterized_job())
        fault = {"method": "POST", "path": "/v1/job/*/dispatch", "count": 1, "status": 503}
        assert (await client.post("/_sim/faults", json=fault)).status_code == 201
        body = {"Meta": GOOD_META, "Payload": b64("p")}
        assert (await client.post("/v1/job/sim/dispatch", json=body)).status_code == 503
        assert (await client.post("/v1/job/sim/dispatch", json=body)).status_code == 200

    async def test_clock(self, emulator: NomadEmulator, client: httpx.AsyncClient) -> None:
        before = emulator.backend.clock.now()
        response = await client.post("/_sim/clock", json={"advance_seconds": 3600})
        assert response.json()["now"] >= before + 3600
        assert (await client.post("/_sim/clock", json={"advance_seconds": -1})).status_code == 400

    async def test_fault_with_probability(self, client: httpx.AsyncClient) -> None:
        fault = {"method": "GET", "path": "/v1/jobs", "count": 1000, "probability": 0.5}
        assert (await client.post("/_sim/faults", json=fault)).status_code == 201
        statuses = [(await client.get("/v1/jobs")).status_code for _ in range(60)]
        assert 500 in statuses and 200 in statuses
        bad = {"method": "GET", "path": "/v1/jobs", "probability": 2}
        assert (await client.post("/_sim/faults", json=bad)).status_code == 400


class TestApiRoutes:
    async def test_each_route_serves_the_methods_its_table_lists(
        self, client: httpx.AsyncClient
    ) -> None:
        for route in API_ROUTES:
            path, name, methods = route.path, route.route_name, route.methods
            concrete = re.sub(r"\{\w+:path\}", "sim", path)
            for method in ("GET", "PUT", "POST", "DELETE"):
                if method == "GET" and name == "event_stream":
                    continue  # a stream that never ends
                response = await client.request(method, concrete)
                refused = response.status_code == 405 and response.text == "Invalid method"
                assert refused == (method not in methods), f"{method} {concrete} ({name})"
