"""The Nomad port against respx: request shape, result mapping, error mapping."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import respx

from runners_on_demand.contract import DispatchRequest
from runners_on_demand.errors import ConfigError, NomadError, NomadRejected, RunnerJobMissing
from runners_on_demand.ports.nomad import NomadHttp, tls_context
from runners_on_demand.ports.protocols import (
    AclToken,
    DispatchResult,
    ListedJob,
    Variable,
    VariableConflict,
    VariableMeta,
)
from simulator.nomad import NomadEmulator
from tests.simulator.nomad.conftest import RUNNER_META, b64

NOMAD = "http://nomad.test:4646"
REQUEST = DispatchRequest(
    job_id="github-runner",
    idempotency_token="rod-42-1",
    meta={"RUNNER_NAME": "rod-42-1", "GITHUB_JOB_ID": "42"},
    payload=base64.b64encode(b'{"jit_config":"abc"}').decode(),
)
CREATED: dict[str, str | int] = {
    "DispatchedJobID": "github-runner/dispatch-1700000000-0a1b2c3d",
    "EvalID": "5a6b7c8d-0000-0000-0000-000000000000",
    "EvalCreateIndex": 12,
    "JobCreateIndex": 12,
    "Index": 12,
}


@pytest.fixture
async def router() -> AsyncIterator[respx.Router]:
    yield respx.Router(base_url=NOMAD, assert_all_called=False)


def port(router: respx.Router, **options: object) -> NomadHttp:
    client = httpx.AsyncClient(base_url=NOMAD, transport=httpx.MockTransport(router.async_handler))
    return NomadHttp(client, **options)  # type: ignore[arg-type]


class TestDispatch:
    async def test_token_in_query_string_not_in_body(self, router: respx.Router) -> None:
        route = router.post("/v1/job/github-runner/dispatch").respond(200, json=CREATED)
        result = await port(router).dispatch(REQUEST)
        request = route.calls.last.request
        assert request.url.params["idempotency_token"] == "rod-42-1"
        body = json.loads(request.content)
        assert set(body) == {"JobID", "Payload", "Meta"}  # no idempotency_token in the body
        assert body["Meta"] == REQUEST.meta
        assert body["Payload"] == REQUEST.payload
        assert result == DispatchResult(
            dispatched_job_id=str(CREATED["DispatchedJobID"]),
            eval_id=str(CREATED["EvalID"]),
            existing=False,
        )

    async def test_namespace_region_token_and_extra_headers(self, router: respx.Router) -> None:
        route = router.post("/v1/job/github-runner/dispatch").respond(200, json=CREATED)
        nomad = port(
            router,
            token="s3cr3t-nomad",
            namespace="ci",
            region="eu",
            headers={"CF-Access-Client-Id": "id.access", "CF-Access-Client-Secret": "cfsecret"},
        )
        await nomad.dispatch(REQUEST)
        request = route.calls.last.request
        assert request.url.params["namespace"] == "ci"
        assert request.url.params["region"] == "eu"
        assert request.headers["X-Nomad-Token"] == "s3cr3t-nomad"
        assert request.headers["CF-Access-Client-Id"] == "id.access"
        assert request.headers["CF-Access-Client-Secret"] == "cfsecret"

    async def test_no_token_no_header_and_no_empty_scope(self, router: respx.Router) -> None:
        route = router.post("/v1/job/github-runner/dispatch").respond(200, json=CREATED)
        await port(router).dispatch(REQUEST)
        request = route.calls.last.request
        assert "X-Nomad-Token" not in request.headers
        assert set(request.url.params) == {"idempotency_token"}

    async def test_job_id_is_escaped(self, router: respx.Router) -> None:
        route = router.route(method="POST", path__regex=r"/dispatch$").respond(200, json=CREATED)
        odd = DispatchRequest("pool a/b", "rod-1-1", {}, "")
        await port(router).dispatch(odd)
        assert route.calls.last.request.url.raw_path.startswith(b"/v1/job/pool%20a%2Fb/dispatch")

    async def test_empty_eval_id_means_existing_child(self, router: respx.Router) -> None:
        existing = {**CREATED, "EvalID": "", "EvalCreateIndex": 0, "Index": 15}
        router.post("/v1/job/github-runner/dispatch").respond(200, json=existing)
        result = await port(router).dispatch(REQUEST)
        assert result.existing is True
        assert result.dispatched_job_id == CREATED["DispatchedJobID"]

    async def test_unexpected_answer(self, router: respx.Router) -> None:
        router.post("/v1/job/github-runner/dispatch").respond(200, text="not json")
        with pytest.raises(NomadError, match="unexpected answer"):
            await port(router).dispatch(REQUEST)


# The validation errors of nomad/job_endpoint.go Dispatch: HTTP 500 text/plain (reference §2).
VALIDATION = [
    "parameterized job not found",
    'Specified job "github-runner" is not a parameterized job',
    'Specified job "github-runner" is stopped',
    "Payload is not provided but required by parameterized job",
    "Payload provided but forbidden by parameterized job",
    "Payload exceeds maximum size; 20000 > 16384",
    "Dispatch request included unpermitted metadata keys: [FOO BAR]",
    "Dispatch did not provide required meta keys: [RUNNER_NAME]",
    "dispatch job priority must be between [1, 100]",
]


class TestErrors:
    @pytest.mark.parametrize("text", VALIDATION)
    async def test_validation_is_rejected_not_retryable(
        self, router: respx.Router, text: str
    ) -> None:
        router.post("/v1/job/github-runner/dispatch").respond(
            500, text=text, headers={"Content-Type": "text/plain"}
        )
        with pytest.raises(NomadRejected) as caught:
            await port(router).dispatch(REQUEST)
        assert caught.value.retryable is False
        assert caught.value.status == 500
        assert text in str(caught.value)

    @pytest.mark.parametrize("text", VALIDATION[:3])
    async def test_a_runner_job_that_cannot_be_dispatched_from_is_said(
        self, router: respx.Router, text: str
    ) -> None:
        router.post("/v1/job/github-runner/dispatch").respond(
            500, text=text, headers={"Content-Type": "text/plain"}
        )
        with pytest.raises(RunnerJobMissing):  # the pipeline parks its runners (pipeline.py)
            await port(router).dispatch(REQUEST)

    @pytest.mark.parametrize("text", VALIDATION[3:])
    async def test_a_bad_dispatch_is_not_a_missing_runner_job(
        self, router: respx.Router, text: str
    ) -> None:
        router.post("/v1/job/github-runner/dispatch").respond(500, text=text)
        with pytest.raises(NomadRejected) as caught:
            await port(router).dispatch(REQUEST)
        assert not isinstance(caught.value, RunnerJobMissing)

    async def test_bad_request_is_rejected(self, router: respx.Router) -> None:
        router.post("/v1/job/github-runner/dispatch").respond(400, text="Request body is empty")
        with pytest.raises(NomadRejected):
            await port(router).dispatch(REQUEST)

    async def test_other_500_is_retryable(self, router: respx.Router) -> None:
        router.post("/v1/job/github-runner/dispatch").respond(
            500, text="rpc error: No cluster leader"
        )
        with pytest.raises(NomadError) as caught:
            await port(router).dispatch(REQUEST)
        assert not isinstance(caught.value, NomadRejected)
        assert caught.value.retryable is True

    @pytest.mark.parametrize("status", [502, 503, 504, 429])
    async def test_gateway_errors_are_retryable(self, router: respx.Router, status: int) -> None:
        router.post("/v1/job/github-runner/dispatch").respond(status, text="upstream")
        with pytest.raises(NomadError) as caught:
            await port(router).dispatch(REQUEST)
        assert caught.value.retryable is True
        assert caught.value.status == status

    async def test_permission_denied_is_not_retryable(self, router: respx.Router) -> None:
        router.post("/v1/job/github-runner/dispatch").respond(403, text="Permission denied")
        with pytest.raises(NomadError) as caught:
            await port(router).dispatch(REQUEST)
        assert not isinstance(caught.value, NomadRejected)
        assert caught.value.retryable is False
        assert caught.value.status == 403
        assert "Permission denied" in str(caught.value)

    async def test_connection_error_is_retryable(self, router: respx.Router) -> None:
        router.post("/v1/job/github-runner/dispatch").mock(
            side_effect=httpx.ConnectError("refused")
        )
        with pytest.raises(NomadError) as caught:
            await port(router).dispatch(REQUEST)
        assert caught.value.retryable is True
        assert caught.value.status is None

    async def test_error_message_is_one_line(self, router: respx.Router) -> None:
        router.post("/v1/job/github-runner/dispatch").respond(
            500, text="1 error occurred:\n\tboom\n"
        )
        with pytest.raises(NomadError) as caught:
            await port(router).dispatch(REQUEST)
        assert "\n" not in str(caught.value)


class TestHealth:
    async def test_healthy(self, router: respx.Router) -> None:
        route = router.get("/v1/agent/health").respond(200, json={"server": {"ok": True}})
        await port(router, token="t").health()
        assert route.calls.last.request.headers["X-Nomad-Token"] == "t"

    async def test_unhealthy(self, router: respx.Router) -> None:
        router.get("/v1/agent/health").respond(500, text="server: not ok")
        with pytest.raises(NomadError, match="not ok"):
            await port(router).health()


class TestTlsContext:
    def test_system_store_without_cacert(self) -> None:
        assert tls_context(None) is True

    def test_unreadable_cacert_fails_naming_it(self) -> None:
        with pytest.raises(ConfigError) as raised:
            tls_context("/nonexistent/ca.pem")
        assert raised.value.problems == [
            "NOMAD_CACERT /nonexistent/ca.pem: not a PEM CA certificate (No such file or directory)"
        ]

    def test_a_cacert_holding_no_certificate_is_named(self, tmp_path: Path) -> None:
        cacert = tmp_path / "ca.pem"
        cacert.write_text("not PEM\n")
        with pytest.raises(ConfigError) as raised:
            tls_context(str(cacert))
        assert raised.value.problems == [
            f"NOMAD_CACERT {cacert}: not a PEM CA certificate (NO_CERTIFICATE_OR_CRL_FOUND)"
        ]

    def test_a_client_certificate_that_is_none_names_the_pair(self, tmp_path: Path) -> None:
        cert, key = tmp_path / "client.pem", tmp_path / "client-key.pem"
        cert.write_text("not PEM\n")
        key.write_text("not PEM\n")
        with pytest.raises(ConfigError) as raised:
            tls_context(None, str(cert), str(key))
        (problem,) = raised.value.problems
        assert problem.startswith(
            f"NOMAD_CLIENT_CERT {cert} and NOMAD_CLIENT_KEY {key}: not a PEM certificate and its "
            "private key ("
        )


class TestAclReads:
    """The calls of rod's token check (runners_on_demand.token_check)."""

    async def test_token_self(self, router: respx.Router) -> None:
        router.get("/v1/acl/token/self").respond(
            200,
            json={"Type": "client", "Policies": ["rod"], "Roles": [{"ID": "r1", "Name": "ci"}]},
        )
        token = await port(router, token="secret").acl_token_self()
        assert token == AclToken(type="client", policies=("rod",), role_ids=("r1",))

    async def test_token_self_with_acls_off_is_none(self, router: respx.Router) -> None:
        router.get("/v1/acl/token/self").respond(400, text="ACL support disabled")
        assert await port(router).acl_token_self() is None

    async def test_token_self_unknown_is_a_404_nomad_error(self, router: respx.Router) -> None:
        router.get("/v1/acl/token/self").respond(404, text="ACL token not found")
        with pytest.raises(NomadError) as raised:
            await port(router).acl_token_self()
        assert (raised.value.status, raised.value.retryable) == (404, False)

    async def test_policy_rules_and_role_policies(self, router: respx.Router) -> None:
        rules = {"Namespaces": [{"Name": "default", "Capabilities": ["list-jobs"]}]}
        router.get("/v1/acl/policy/rod").respond(200, json={"Name": "rod", "RulesJSON": rules})
        router.get("/v1/acl/policy/old").respond(200, json={"Name": "old", "Rules": "..."})
        router.get("/v1/acl/role/r1").respond(
            200, json={"Policies": [{"Name": "a"}, {"Name": "b"}]}
        )
        nomad = port(router)
        assert await nomad.acl_policy_rules("rod") == rules
        assert await nomad.acl_policy_rules("old") is None  # a server without RulesJSON
        assert await nomad.acl_role_policies("r1") == ("a", "b")


class TestVariables:
    PATH = "nomad/jobs/github-runner/credentials/rod-42-1"
    STORED = {"Path": PATH, "ModifyIndex": 12, "ModifyTime": 1_700_000_000_000_000_000}

    async def test_put_creates_with_cas(self, router: respx.Router) -> None:
        route = router.put(f"/v1/var/{self.PATH}").respond(200, json=self.STORED)
        made = await port(router, namespace="ops").put_variable(
            self.PATH, {"jit_config": "s"}, cas=0
        )
        assert made == VariableMeta(self.PATH, 12, 1_700_000_000.0)
        request = route.calls.last.request
        assert request.url.params["cas"] == "0" and request.url.params["namespace"] == "ops"
        assert json.loads(request.content) == {"Path": self.PATH, "Items": {"jit_config": "s"}}

    async def test_a_lost_check_and_set_is_a_conflict_not_an_error(
        self, router: respx.Router
    ) -> None:
        # Nomad answers 409 with the current Variable as text/plain (no items without read).
        router.put(f"/v1/var/{self.PATH}").respond(
            409, text=json.dumps(self.STORED), headers={"Content-Type": "text/plain"}
        )
        found = await port(router).put_variable(self.PATH, {"jit_config": "s"}, cas=0)
        assert found == VariableConflict(VariableMeta(self.PATH, 12, 1_700_000_000.0))

    async def test_list_by_prefix_and_delete(self, router: respx.Router) -> None:
        listed = router.get("/v1/vars").respond(200, json=[self.STORED, "junk"])
        deleted = router.delete(f"/v1/var/{self.PATH}").respond(204)
        nomad = port(router)
        assert [v.path for v in await nomad.list_variables(self.PATH)] == [self.PATH]
        assert listed.calls.last.request.url.params["prefix"] == self.PATH
        await nomad.delete_variable(self.PATH)
        assert deleted.called

    async def test_other_failures_are_nomad_errors(self, router: respx.Router) -> None:
        router.put(f"/v1/var/{self.PATH}").respond(403, text="Permission denied")
        with pytest.raises(NomadError, match="403 Permission denied") as refused:
            await port(router).put_variable(self.PATH, {"jit_config": "s"})
        assert refused.value.retryable is False

    async def test_read_returns_the_items(self, router: respx.Router) -> None:
        route = router.get("/v1/var/rod/served-repos").respond(
            200, json={**self.STORED, "Path": "rod/served-repos", "Items": {"repos": "[]"}}
        )
        found = await port(router, namespace="ops").read_variable("rod/served-repos")
        assert found == Variable(
            VariableMeta("rod/served-repos", 12, 1_700_000_000.0), {"repos": "[]"}
        )
        assert route.calls.last.request.url.params["namespace"] == "ops"

    async def test_read_of_nothing_is_none_and_other_failures_are_errors(
        self, router: respx.Router
    ) -> None:
        router.get("/v1/var/rod/none").respond(404, text="variable not found")
        router.get("/v1/var/rod/denied").respond(403, text="Permission denied")
        router.get("/v1/var/rod/odd").respond(200, json={**self.STORED, "Items": None})
        nomad = port(router)
        assert await nomad.read_variable("rod/none") is None
        with pytest.raises(NomadError, match="403 Permission denied"):
            await nomad.read_variable("rod/denied")
        with pytest.raises(NomadError, match="a Variable without Items"):
            await nomad.read_variable("rod/odd")


@pytest.fixture
def emulator() -> Iterator[NomadEmulator]:
    started = NomadEmulator().start()
    yield started
    started.stop()


class TestVariablesOnTheEmulator:
    """Read and check-and-set write over real HTTP, as the reconciler's state Variable uses them."""

    async def test_read_write_and_a_lost_check_and_set(self, emulator: NomadEmulator) -> None:
        async with httpx.AsyncClient(base_url=emulator.url) as client:
            nomad = NomadHttp(client)
            assert await nomad.read_variable("rod/served-repos") is None
            made = await nomad.put_variable("rod/served-repos", {"repos": "[]"}, cas=0)
            assert isinstance(made, VariableMeta)
            theirs = {"repos": '[["octo/a",1]]'}
            other = await nomad.put_variable("rod/served-repos", theirs, cas=made.modify_index)
            assert isinstance(other, VariableMeta) and other.modify_index > made.modify_index
            lost = await nomad.put_variable("rod/served-repos", {"repos": "[]"}, cas=0)
            assert lost == VariableConflict(other)
            assert await nomad.read_variable("rod/served-repos") == Variable(other, theirs)


class TestFindJob:
    """`find_job` asks `GET /v1/jobs` (list-jobs), never `GET /v1/job/<id>` (read-job)."""

    async def test_one_stub_by_prefix_in_the_namespace(self, router: respx.Router) -> None:
        stub = {"ID": "github-runner", "Type": "batch", "ParameterizedJob": True, "Stop": False}
        route = router.get("/v1/jobs").respond(200, json=[{**stub, "Status": "running"}])
        found = await port(router, namespace="ci").find_job("github-runner")
        assert found == ListedJob("github-runner", "batch", True, False)
        params = route.calls.last.request.url.params
        assert dict(params) == {"prefix": "github-runner", "per_page": "1", "namespace": "ci"}

    async def test_another_first_stub_means_not_registered(self, router: respx.Router) -> None:
        router.get("/v1/jobs").respond(200, json=[{"ID": "github-runner-gpu", "Type": "batch"}])
        assert await port(router).find_job("github-runner") is None

    async def test_an_answer_that_is_no_list_is_an_error(self, router: respx.Router) -> None:
        router.get("/v1/jobs").respond(200, json={"ID": "github-runner"})
        with pytest.raises(NomadError, match="answer is not a list"):
            await port(router).find_job("github-runner")


class TestFindJobOnTheEmulator:
    """Over real HTTP, with jobs that share the runner job's prefix around it."""

    async def test_the_parent_comes_first_whatever_shares_its_prefix(
        self, registered: NomadEmulator
    ) -> None:
        async with httpx.AsyncClient(base_url=registered.url) as client:
            job = (await client.get("/v1/job/github-runner")).json()
            twin = {**job, "ID": "github-runner-gpu", "Name": "github-runner-gpu"}
            assert (await client.put("/v1/jobs", json={"Job": twin})).is_success
            dispatched = await client.post(
                "/v1/job/github-runner/dispatch",
                json={"Payload": b64('{"jit_config":"x"}'), "Meta": RUNNER_META},
            )
            assert dispatched.is_success, dispatched.text
            nomad = NomadHttp(client)
            assert await nomad.find_job("github-runner") == ListedJob(
                "github-runner", "batch", True, False
            )
            assert await nomad.find_job("github-runner-gpu") is not None
            assert await nomad.find_job("github") is None  # a prefix of jobs, no job
            assert await NomadHttp(client, namespace="ci").find_job("github-runner") is None
            child = dispatched.json()["DispatchedJobID"]
            found = await nomad.find_job(child)  # a dispatched child is no parameterized job
            assert found is not None and (found.id, found.parameterized) == (child, False)

    async def test_a_stopped_runner_job_is_listed_as_stopped(
        self, registered: NomadEmulator
    ) -> None:
        async with httpx.AsyncClient(base_url=registered.url) as client:
            assert (await client.delete("/v1/job/github-runner")).is_success
            found = await NomadHttp(client).find_job("github-runner")
        assert found is not None and found.stop
