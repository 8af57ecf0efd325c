"""simulator.control: faults that fire on every match, or only on a share of them."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from simulator.control import ControlMiddleware, ControlPlane, Fault, control_routes


class TestFaults:
    def test_a_certain_fault_fires_count_times(self) -> None:
        control = ControlPlane()
        control.inject(Fault("GET", "/v1/*", count=2))
        taken = [control.take_fault("GET", "/v1/jobs") for _ in range(3)]
        assert [fault is not None for fault in taken] == [True, True, False]

    def test_a_probable_fault_fails_about_its_share(self) -> None:
        control = ControlPlane()
        control.inject(Fault("*", "/v1/*", count=10_000, probability=0.1))
        fired = sum(
            control.take_fault("POST", "/v1/job/x/dispatch") is not None for _ in range(2000)
        )
        # Binomial(2000, 0.1): mean 200, standard deviation ~13.4; these bounds are > 7 sigma.
        assert 100 < fired < 300
        assert control.faults[0].count == 10_000 - fired

    def test_spared_requests_fall_through_to_the_next_fault(self) -> None:
        control = ControlPlane()
        control.inject(Fault("*", "*", count=1000, probability=0.01, status=503))
        control.inject(Fault("*", "*", count=1000, status=500))
        taken = [control.take_fault("GET", "/v1/jobs") for _ in range(50)]
        assert any(fault is not None and fault.status == 500 for fault in taken)

    @pytest.mark.parametrize("probability", [0.0, -0.5, 1.5])
    def test_a_probability_outside_0_1_is_refused(self, probability: float) -> None:
        with pytest.raises(ValueError, match="probability"):
            Fault("*", "*", probability=probability)


class TestFaultRoutes:
    async def test_a_hanging_request_uses_its_fault_up_at_once(self) -> None:
        # The use is counted when the request arrives: a client can tell every hang has begun.
        control = ControlPlane()

        async def ok(request: Request) -> Response:
            return PlainTextResponse("ok")

        routes = [*control_routes(control), Route("/x", ok)]
        app = ControlMiddleware(Starlette(routes=routes), control)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sim") as client:
            fault = {"method": "GET", "path": "/x", "count": 1, "hang_seconds": 0.5}
            assert (await client.post("/_sim/faults", json=fault)).status_code == 201
            assert [f["count"] for f in (await client.get("/_sim/faults")).json()] == [1]
            hanging = asyncio.create_task(client.get("/x"))
            await asyncio.sleep(0.1)
            assert (await client.get("/_sim/faults")).json() == []
            assert (await client.get("/x")).text == "ok"
            assert (await hanging).status_code == 500

    async def test_a_passthrough_fault_commits_then_answers_late(self) -> None:
        # The effect happens at once; the real answer comes hang_seconds later.
        control = ControlPlane()
        done: list[str] = []

        async def dispatch(request: Request) -> Response:
            done.append("dispatched")
            return PlainTextResponse("created", status_code=200)

        routes = [*control_routes(control), Route("/x", dispatch, methods=["POST"])]
        app = ControlMiddleware(Starlette(routes=routes), control)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sim") as client:
            fault = {"method": "POST", "path": "/x", "hang_seconds": 0.5, "passthrough": True}
            assert (await client.post("/_sim/faults", json=fault)).status_code == 201
            late = asyncio.create_task(client.post("/x"))
            await asyncio.sleep(0.2)
            assert done == ["dispatched"] and not late.done()
            answer = await late
            assert (answer.status_code, answer.text) == (200, "created")
        assert [r.status for r in control.calls("POST", "/x")] == [200]


class TestRequestLog:
    async def test_who_called_when_and_the_harness_s_control_actions(self) -> None:
        control = ControlPlane()

        async def ok(request: Request) -> Response:
            return PlainTextResponse("ok")

        routes = [
            *control_routes(control),
            Route("/x", ok),
            Route("/_sim/act", ok, methods=["POST"]),
        ]
        app = ControlMiddleware(Starlette(routes=routes), control)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sim") as client:
            await client.get("/x", headers={"User-Agent": "runners-on-demand/0.1.0"})
            await client.post("/_sim/act")
            await client.get("/_sim/faults")  # a control-plane read: not logged
            (api,) = (await client.get("/_sim/requests")).json()
            logged = (await client.get("/_sim/requests", params={"control": "true"})).json()
        assert api["user_agent"] == "runners-on-demand/0.1.0"
        assert api["started"] <= api["at"] and not api["control"]
        assert [(r["method"], r["path"], r["control"]) for r in logged] == [
            ("GET", "/x", False),
            ("POST", "/_sim/act", True),
        ]
