"""ACL over real HTTP: bootstrap, policies, tokens, and the capability each endpoint needs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from simulator.nomad import NomadEmulator

from .conftest import GOOD_META, b64, both_ways, parameterized_job, text_error

DISPATCH_BODY = {"Meta": GOOD_META, "Payload": b64("{}")}


@pytest.fixture(params=["asgi", "server"])
def secured(request: pytest.FixtureRequest) -> Iterator[NomadEmulator]:
    """An emulator started like `nomad agent -acl-enabled`, not yet bootstrapped."""
    yield from both_ways(request, acl_enabled=True)


@pytest.fixture
async def acl(secured: NomadEmulator) -> AsyncIterator[httpx.AsyncClient]:
    async with secured.client(timeout=10) as c:
        yield c


@pytest.fixture
async def root(acl: httpx.AsyncClient) -> dict[str, str]:
    """Headers carrying the bootstrap (management) token."""
    token = (await acl.post("/v1/acl/bootstrap")).json()
    return {"X-Nomad-Token": token["SecretID"]}


async def policy(
    acl: httpx.AsyncClient, root: dict[str, str], name: str, rules: str, **extra: Any
) -> None:
    body = {"Name": name, "Rules": rules, **extra}
    response = await acl.put(f"/v1/acl/policy/{name}", json=body, headers=root)
    assert (response.status_code, response.content) == (200, b""), response.text


async def client_token(
    acl: httpx.AsyncClient, root: dict[str, str], *policies: str
) -> dict[str, str]:
    body = {"Name": "t", "Type": "client", "Policies": list(policies)}
    response = await acl.post("/v1/acl/token", json=body, headers=root)
    assert response.status_code == 200, response.text
    return {"X-Nomad-Token": response.json()["SecretID"]}


class TestBootstrap:
    async def test_once(self, acl: httpx.AsyncClient) -> None:
        first = await acl.post("/v1/acl/bootstrap")
        token = first.json()
        assert first.status_code == 200
        assert (token["Type"], token["Name"], token["Global"]) == (
            "management",
            "Bootstrap Token",
            True,
        )
        assert token["Policies"] is None and token["ExpirationTTL"] == ""
        again = await acl.post("/v1/acl/bootstrap")
        text_error(again, 400, f"ACL bootstrap already done (reset index: {token['CreateIndex']})")

    async def test_chosen_secret_must_be_a_uuid(self, acl: httpx.AsyncClient) -> None:
        bad = await acl.post("/v1/acl/bootstrap", json={"BootstrapSecret": "not-a-uuid"})
        text_error(bad, 400, "invalid acl token")
        secret = "8d3e1c9a-4c1b-4c70-9a3c-0d5f2b7e6a11"
        good = await acl.post("/v1/acl/bootstrap", json={"BootstrapSecret": secret})
        assert good.json()["SecretID"] == secret

    async def test_acl_endpoints_without_acls(self, client: httpx.AsyncClient) -> None:
        text_error(await client.post("/v1/acl/bootstrap"), 400, "ACL support disabled")
        text_error(await client.get("/v1/acl/policies"), 400, "ACL support disabled")
        text_error(await client.get("/v1/acl/token/self"), 400, "ACL support disabled")


class TestPoliciesAndTokens:
    async def test_policy_round_trip(self, acl: httpx.AsyncClient, root: dict[str, str]) -> None:
        await policy(acl, root, "rod", 'namespace "default" { policy = "read" }', Description="d")
        read = (await acl.get("/v1/acl/policy/rod", headers=root)).json()
        assert (read["Name"], read["Description"], read["JobACL"]) == ("rod", "d", None)
        assert "list-jobs" in read["RulesJSON"]["Namespaces"][0]["Capabilities"]
        (stub,) = (await acl.get("/v1/acl/policies", headers=root)).json()
        assert stub["Name"] == "rod" and "Rules" not in stub
        assert (await acl.delete("/v1/acl/policy/rod", headers=root)).status_code == 200
        text_error(await acl.get("/v1/acl/policy/rod", headers=root), 404, "ACL policy not found")

    async def test_policy_errors(self, acl: httpx.AsyncClient, root: dict[str, str]) -> None:
        mismatch = await acl.put("/v1/acl/policy/a", json={"Name": "b", "Rules": ""}, headers=root)
        text_error(mismatch, 400, "ACL policy name does not match request path")
        bad = {"Name": "a", "Rules": 'namespace "default" { capabilities = ["fly"] }'}
        response = await acl.put("/v1/acl/policy/a", json=bad, headers=root)
        assert response.status_code == 400
        assert response.text.startswith("policy 0 invalid: 1 error occurred:\n\t* failed to parse")
        assert "Invalid namespace capability 'fly'" in response.text

    async def test_only_management_writes_policies(
        self, acl: httpx.AsyncClient, root: dict[str, str]
    ) -> None:
        await policy(acl, root, "reader", 'namespace "default" { policy = "read" }')
        reader = await client_token(acl, root, "reader")
        body = {"Name": "x", "Rules": 'namespace "default" { policy = "write" }'}
        text_error(
            await acl.put("/v1/acl/policy/x", json=body, headers=reader), 403, "Permission denied"
        )
        assert (await acl.get("/v1/acl/policy/reader", headers=reader)).status_code == 200
        text_error(await acl.get("/v1/acl/tokens", headers=reader), 403, "Permission denied")

    async def test_tokens(self, acl: httpx.AsyncClient, root: dict[str, str]) -> None:
        empty = await acl.post("/v1/acl/token", json={"Type": "client"}, headers=root)
        assert empty.status_code == 400
        assert "client token missing policies or roles" in empty.text
        token = (await acl.post(
            "/v1/acl/token", json={"Name": "rod", "Type": "client", "Policies": ["p"]}, headers=root
        )).json()  # fmt: skip
        own = {"X-Nomad-Token": token["SecretID"]}
        assert (await acl.get("/v1/acl/token/self", headers=own)).json()["AccessorID"] == token[
            "AccessorID"
        ]
        assert (
            await acl.get(f"/v1/acl/token/{token['AccessorID']}", headers=own)
        ).status_code == 200
        listed = (await acl.get("/v1/acl/tokens", headers=root)).json()
        assert {t["Name"] for t in listed} == {"Bootstrap Token", "rod"}
        assert all("SecretID" not in t for t in listed)
        deleted = await acl.delete(f"/v1/acl/token/{token['AccessorID']}", headers=root)
        assert deleted.status_code == 200
        text_error(await acl.get("/v1/jobs", headers=own), 403, "Permission denied")
        gone = await acl.delete(f"/v1/acl/token/{token['AccessorID']}", headers=root)
        text_error(gone, 400, f"Cannot delete nonexistent tokens: {token['AccessorID']}")

    async def test_anonymous_policy_applies_without_a_token(
        self, acl: httpx.AsyncClient, root: dict[str, str]
    ) -> None:
        text_error(await acl.get("/v1/jobs"), 403, "Permission denied")
        await policy(acl, root, "anonymous", 'namespace "default" { capabilities = ["list-jobs"] }')
        assert (await acl.get("/v1/jobs")).status_code == 200
        # aclTokenSelf resolves the request's secret: no secret, no token (ACL.ResolveToken).
        text_error(await acl.get("/v1/acl/token/self"), 404, "ACL token not found")

    async def test_token_self(self, acl: httpx.AsyncClient, root: dict[str, str]) -> None:
        assert (await acl.get("/v1/acl/token/self", headers=root)).json()["Type"] == "management"
        unknown = {"X-Nomad-Token": "8d3e1c9a-4c1b-4c70-9a3c-0d5f2b7e6a11"}
        text_error(await acl.get("/v1/acl/token/self", headers=unknown), 404, "ACL token not found")
        text_error(await acl.post("/v1/acl/token/self", headers=root), 405, "Invalid method")


# (method, path, body, every capability that opens it): nomad/job_endpoint.go, AllowNsOpAnyOf.
ENDPOINTS = [
    ("GET", "/v1/jobs", None, {"list-jobs"}),
    ("GET", "/v1/job/sim", None, {"read-job"}),
    ("GET", "/v1/job/sim/summary", None, {"read-job"}),
    ("GET", "/v1/job/sim/allocations", None, {"read-job"}),
    ("POST", "/v1/job/sim/dispatch", DISPATCH_BODY, {"dispatch-job"}),
    ("DELETE", "/v1/job/ghost", None, {"deregister-job", "purge-job", "submit-job"}),
    ("DELETE", "/v1/job/ghost?purge=true", None, {"purge-job", "submit-job"}),
    ("POST", "/v1/jobs", {"Job": parameterized_job("other")}, {"submit-job", "register-job"}),
    ("POST", "/v1/jobs/parse", {"JobHCL": 'job "x" {}'}, {"parse-job", "submit-job"}),
]
CAPABILITIES = set().union(*(openers for *_, openers in ENDPOINTS))


def rules(capabilities: set[str]) -> str:
    listed = ", ".join(f'"{c}"' for c in sorted(capabilities))
    return f'namespace "default" {{ capabilities = [{listed}] }}'


class TestCapabilities:
    @pytest.fixture
    async def parent(self, acl: httpx.AsyncClient, root: dict[str, str]) -> None:
        response = await acl.post("/v1/jobs", json={"Job": parameterized_job()}, headers=root)
        assert response.status_code == 200

    @pytest.mark.parametrize(("method", "path", "body", "openers"), ENDPOINTS)
    async def test_exactly_the_capabilities_nomad_checks(
        self,
        acl: httpx.AsyncClient,
        root: dict[str, str],
        parent: None,
        method: str,
        path: str,
        body: Any,
        openers: set[str],
    ) -> None:
        for capability in sorted(openers):
            await policy(acl, root, capability, rules({capability}))
            headers = await client_token(acl, root, capability)
            allowed = await acl.request(method, path, json=body, headers=headers)
            assert allowed.status_code != 403, (capability, allowed.text)
        await policy(acl, root, "others", rules(CAPABILITIES - openers))
        headers = await client_token(acl, root, "others")
        text_error(
            await acl.request(method, path, json=body, headers=headers), 403, "Permission denied"
        )

    async def test_management_only_and_node_read(
        self, acl: httpx.AsyncClient, root: dict[str, str]
    ) -> None:
        await policy(acl, root, "all", 'namespace "*" { policy = "write" }')
        writer = await client_token(acl, root, "all")
        text_error(await acl.put("/v1/system/gc", headers=writer), 403, "Permission denied")
        assert (await acl.put("/v1/system/gc", headers=root)).status_code == 200
        text_error(await acl.get("/v1/nodes", headers=writer), 403, "Permission denied")
        await policy(acl, root, "nodes", 'node { policy = "read" }')
        assert (
            await acl.get("/v1/nodes", headers=await client_token(acl, root, "nodes"))
        ).status_code == 200
        assert (await acl.get("/v1/agent/health")).status_code == 200
        assert (await acl.get("/v1/status/leader")).status_code == 200

    async def test_http_400s_come_before_the_token_check(self, acl: httpx.AsyncClient) -> None:
        # The HTTP agent decodes the body before the RPC authenticates (http.go decodeBody).
        text_error(await acl.post("/v1/jobs"), 400, "Request body is empty")
        text_error(await acl.post("/v1/job/sim/dispatch"), 400, "Request body is empty")

    async def test_unknown_tokens(self, acl: httpx.AsyncClient, root: dict[str, str]) -> None:
        for token in ("8d3e1c9a-4c1b-4c70-9a3c-0d5f2b7e6a11", "not-a-token", "a.b.c"):
            text_error(
                await acl.get("/v1/jobs", headers={"X-Nomad-Token": token}),
                403,
                "Permission denied",
            )
        bearer = {"Authorization": f"Bearer {root['X-Nomad-Token']}"}
        assert (await acl.get("/v1/jobs", headers=bearer)).status_code == 200

    async def test_variables_by_path(self, acl: httpx.AsyncClient, root: dict[str, str]) -> None:
        rules = (
            'namespace "default" { variables { path "nomad/jobs/github-runner/*" '
            '{ capabilities = ["write", "destroy", "list"] } } }'
        )
        await policy(acl, root, "creds", rules)
        rod = await client_token(acl, root, "creds")
        path = "/v1/var/nomad/jobs/github-runner/rod-1-1"
        assert (await acl.put(path, json={"Items": {"jit": "x"}}, headers=rod)).status_code == 200
        text_error(await acl.get(path, headers=rod), 403, "Permission denied")  # no read
        listed = (await acl.get("/v1/vars", headers=rod)).json()
        assert [v["Path"] for v in listed] == ["nomad/jobs/github-runner/rod-1-1"]
        other = "/v1/var/nomad/jobs/rod"
        text_error(
            await acl.put(other, json={"Items": {"a": "b"}}, headers=rod), 403, "Permission denied"
        )
        assert (await acl.delete(path, headers=rod)).status_code == 204


class TestEventStream:
    async def test_topics_need_their_capability(self) -> None:
        emu = NomadEmulator(driver="inprocess", acl_token="root").start()
        root = {"X-Nomad-Token": "root"}
        try:
            async with httpx.AsyncClient(base_url=emu.url, timeout=10) as acl:
                await policy(
                    acl, root, "reader", 'namespace "default" { capabilities = ["read-job"] }'
                )
                reader = await client_token(acl, root, "reader")
                # No topic means every topic, which only a management token may read.
                text_error(
                    await acl.get("/v1/event/stream", headers=reader), 403, "Permission denied"
                )
                text_error(
                    await acl.get("/v1/event/stream", params={"topic": "Node"}, headers=reader),
                    403,
                    "Permission denied",
                )
                params = {"topic": "Job"}
                async with acl.stream(
                    "GET", "/v1/event/stream", params=params, headers=reader
                ) as r:
                    assert r.status_code == 200
                    assert await anext(r.aiter_lines()) == "{}"
        finally:
            emu.stop()
