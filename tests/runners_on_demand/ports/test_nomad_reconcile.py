"""The Nomad port's reconciler calls against respx: listing children, stopping one."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx

from runners_on_demand.errors import NomadError
from runners_on_demand.ports.nomad import NomadHttp

NOMAD = "http://nomad.test:4646"
CHILD = "github-runner/dispatch-1700000000-0a1b2c3d"


def stub(job_id: str, parent: str, **fields: Any) -> dict[str, Any]:
    return {
        "ID": job_id,
        "ParentID": parent,
        "Status": "running",
        "Stop": False,
        "SubmitTime": 1_700_000_000_000_000_000,
        "Meta": {"managed_by": "runners-on-demand", "RUNNER_NAME": "rod-7-1"},
        "JobSummary": {"Summary": {"runner": {"Failed": 0, "Lost": 0, "Running": 1}}},
        **fields,
    }


@pytest.fixture
def router() -> respx.Router:
    return respx.Router(base_url=NOMAD, assert_all_called=False)


def port(router: respx.Router, **options: Any) -> NomadHttp:
    client = httpx.AsyncClient(base_url=NOMAD, transport=httpx.MockTransport(router.async_handler))
    return NomadHttp(client, **options)


class TestListChildren:
    async def test_asks_for_the_parents_prefix_with_meta_in_its_namespace(
        self, router: respx.Router
    ) -> None:
        route = router.get("/v1/jobs").respond(200, json=[stub(CHILD, "github-runner")])
        (child,) = await port(router, namespace="ci", token="s3cr3t").list_children("github-runner")
        request = route.calls.last.request
        assert dict(request.url.params) == {
            "prefix": "github-runner/",
            "meta": "true",
            "namespace": "ci",
        }
        assert request.headers["x-nomad-token"] == "s3cr3t"
        assert (child.id, child.status, child.live, child.failed) == (CHILD, "running", True, False)
        assert child.meta["RUNNER_NAME"] == "rod-7-1"
        assert child.submit_time == 1_700_000_000.0

    async def test_only_children_of_that_parent_are_kept(self, router: respx.Router) -> None:
        router.get("/v1/jobs").respond(
            200,
            json=[
                stub(CHILD, "github-runner"),
                stub("github-runner/x/dispatch-1-2", "github-runner/x"),
                stub("github-runner", ""),
            ],
        )
        children = await port(router).list_children("github-runner")
        assert [c.id for c in children] == [CHILD]

    async def test_a_failed_or_lost_allocation_marks_the_child(self, router: respx.Router) -> None:
        summary = {"Summary": {"runner": {"Failed": 1, "Lost": 0}}}
        router.get("/v1/jobs").respond(
            200, json=[stub(CHILD, "github-runner", Status="dead", JobSummary=summary)]
        )
        (child,) = await port(router).list_children("github-runner")
        assert child.failed and not child.live

    @pytest.mark.parametrize("body", [b"not json", b'{"ID": "x"}'])
    async def test_an_unreadable_answer_is_a_nomad_error(
        self, router: respx.Router, body: bytes
    ) -> None:
        router.get("/v1/jobs").respond(200, content=body)
        with pytest.raises(NomadError):
            await port(router).list_children("github-runner")

    async def test_nomad_down_is_a_retryable_nomad_error(self, router: respx.Router) -> None:
        router.get("/v1/jobs").mock(side_effect=httpx.ConnectError("refused"))
        with pytest.raises(NomadError) as caught:
            await port(router).list_children("github-runner")
        assert caught.value.retryable


class TestStopJob:
    async def test_deletes_the_child_without_purging_it(self, router: respx.Router) -> None:
        route = router.delete(url__regex=r"/v1/job/.+").respond(
            200, json={"EvalID": "e", "JobModifyIndex": 9}
        )
        await port(router, namespace="ci").stop_job(CHILD)
        request = route.calls.last.request
        assert request.url.raw_path.split(b"?")[0] == (
            b"/v1/job/github-runner%2Fdispatch-1700000000-0a1b2c3d"
        )
        assert "purge" not in request.url.params
        assert request.url.params["namespace"] == "ci"

    async def test_a_refusal_is_a_nomad_error(self, router: respx.Router) -> None:
        router.delete(url__regex=r"/v1/job/.+").respond(403, text="Permission denied")
        with pytest.raises(NomadError, match="Permission denied"):
            await port(router).stop_job(CHILD)
