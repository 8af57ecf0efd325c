"""runners_on_demand.token_check against the ACL-enforcing Nomad emulator, through NomadHttp.

Must show (issue 11): a token of the shipped policy may make every call rod makes, and a token
missing any one capability is one line naming it.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from runners_on_demand.config import load_settings
from runners_on_demand.nomad_acl import needs
from runners_on_demand.ports.nomad import NomadHttp
from runners_on_demand.token_check import TokenStatus, check_token, needs_of
from simulator.nomad import NomadEmulator

ROD_RULES = (Path(__file__).resolve().parents[2] / "deploy/nomad/rod-policy.hcl").read_text()
ROOT = "root-token"
STATE = "rod/served-repos"
WANTED = needs("default", ["github-runner"], STATE)
CAPABILITIES = re.compile(r"^  capabilities = (\[.*\])$", re.MULTILINE)


@pytest.fixture
async def admin() -> AsyncIterator[httpx.AsyncClient]:
    emulator = NomadEmulator(acl_token=ROOT)
    async with emulator.client(headers={"X-Nomad-Token": ROOT}, timeout=10) as client:
        yield client
    emulator.stop()


async def token_of(admin: httpx.AsyncClient, rules: str, name: str = "rod") -> str:
    """A client token of one policy with these rules."""
    put = await admin.put(f"/v1/acl/policy/{name}", json={"Name": name, "Rules": rules})
    assert put.status_code == 200, put.text
    body = {"Name": name, "Type": "client", "Policies": [name]}
    secret: str = (await admin.post("/v1/acl/token", json=body)).json()["SecretID"]
    return secret


def nomad(admin: httpx.AsyncClient, token: str | None) -> NomadHttp:
    """rod's Nomad adapter on the same emulator, with `token` (the admin headers overridden)."""
    return NomadHttp(admin, token=token, headers={"X-Nomad-Token": ""} if not token else None)


class TestShippedPolicy:
    async def test_its_token_lacks_nothing(self, admin: httpx.AsyncClient) -> None:
        token = await token_of(admin, ROD_RULES)
        check = await check_token(nomad(admin, token), WANTED, token)
        assert (check.status, check.line) == (
            TokenStatus.OK,
            "NOMAD_TOKEN may make every call rod makes (policies: rod)",
        )

    @pytest.mark.parametrize("capability", ["dispatch-job", "list-jobs", "deregister-job"])
    async def test_without_any_one_capability_one_line_names_it(
        self, admin: httpx.AsyncClient, capability: str
    ) -> None:
        match = CAPABILITIES.search(ROD_RULES)
        assert match is not None
        kept = [c for c in json.loads(match.group(1)) if c != capability]
        rules = CAPABILITIES.sub(f"  capabilities = {json.dumps(kept)}", ROD_RULES)
        token = await token_of(admin, rules)
        check = await check_token(nomad(admin, token), WANTED, token)
        assert check.status is TokenStatus.LACKING and not check.usable and not check.ready
        assert check.line.startswith(f'NOMAD_TOKEN lacks "{capability}"')
        assert "\n" not in check.line and token not in check.line

    async def test_the_variables_block_covers_the_credential_design(
        self, admin: httpx.AsyncClient
    ) -> None:
        token = await token_of(admin, ROD_RULES)
        wanted = needs("default", ["github-runner"])
        assert (await check_token(nomad(admin, token), wanted, token)).status is TokenStatus.OK
        other = needs("default", ["gpu-runner"])
        check = await check_token(nomad(admin, token), other, token)
        assert check.line.startswith(
            'NOMAD_TOKEN lacks variables "write" on nomad/jobs/gpu-runner/credentials/*'
        )

    async def test_without_the_state_variable_rule_one_line_names_it(
        self, admin: httpx.AsyncClient
    ) -> None:
        rule = f'    path "{STATE}" {{\n      capabilities = ["read", "write"]\n    }}\n'
        assert rule in ROD_RULES
        token = await token_of(admin, ROD_RULES.replace(rule, ""))
        check = await check_token(nomad(admin, token), WANTED, token)
        assert (check.status, check.line) == (
            TokenStatus.LACKING,
            f'NOMAD_TOKEN lacks variables "read" on {STATE} in namespace "default" (to read the '
            f'repositories heard of); variables "write" on {STATE} in namespace "default" (to '
            "write the repositories heard of)",
        )


class TestOtherTokens:
    async def test_management(self, admin: httpx.AsyncClient) -> None:
        check = await check_token(nomad(admin, ROOT), WANTED, ROOT)
        assert (check.status, check.line) == (TokenStatus.OK, "NOMAD_TOKEN is a management token")

    async def test_acls_off(self) -> None:
        emulator = NomadEmulator()
        async with emulator.client() as client:
            check = await check_token(NomadHttp(client, token="anything"), WANTED, "anything")
        emulator.stop()
        assert (check.status, check.ready) == (TokenStatus.SKIPPED, True)
        assert check.line == "Nomad's ACLs are off: no token needed"

    async def test_a_token_nomad_does_not_know(self, admin: httpx.AsyncClient) -> None:
        stranger = "8d3e1c9a-4c1b-4c70-9a3c-0d5f2b7e6a11"
        check = await check_token(nomad(admin, stranger), WANTED, stranger)
        assert check.status is TokenStatus.LACKING
        assert check.line == (
            "NOMAD_TOKEN is not a token this Nomad knows "
            "(Nomad GET /v1/acl/token/self: 404 ACL token not found)"
        )

    async def test_no_token_is_the_anonymous_policy(self, admin: httpx.AsyncClient) -> None:
        check = await check_token(nomad(admin, None), WANTED, None)
        assert check.line.startswith(
            'without NOMAD_TOKEN, the anonymous policy lacks "dispatch-job"'
        )
        await token_of(admin, ROD_RULES, name="anonymous")
        assert (await check_token(nomad(admin, None), WANTED, None)).status is TokenStatus.OK

    async def test_a_workload_identity_is_not_checked(self, admin: httpx.AsyncClient) -> None:
        jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"
        check = await check_token(nomad(admin, jwt), WANTED, jwt)
        assert (check.status, check.usable) == (TokenStatus.SKIPPED, True)

    async def test_a_policy_deleted_since_grants_nothing(self, admin: httpx.AsyncClient) -> None:
        token = await token_of(admin, ROD_RULES)
        assert (await admin.delete("/v1/acl/policy/rod")).status_code == 200
        check = await check_token(nomad(admin, token), WANTED, token)
        assert check.line.startswith('NOMAD_TOKEN lacks "dispatch-job"')


def answering(routes: dict[str, tuple[int, object]]) -> NomadHttp:
    """NomadHttp on a transport answering fixed bodies by path."""

    def handler(request: httpx.Request) -> httpx.Response:
        status, body = routes[request.url.path]
        if isinstance(body, str):
            return httpx.Response(status, text=body)
        return httpx.Response(status, json=body)

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://nomad")
    return NomadHttp(client, token="8d3e1c9a-4c1b-4c70-9a3c-0d5f2b7e6a11")


class TestAnswersTheEmulatorDoesNotGive:
    async def test_policies_through_roles(self) -> None:
        rules = {"Namespaces": [{"Name": "*", "Capabilities": ["dispatch-job", "list-jobs"]}]}
        port = answering({
            "/v1/acl/token/self": (200, {"Type": "client", "Policies": None,
                                         "Roles": [{"ID": "r1", "Name": "ci"}]}),
            "/v1/acl/role/r1": (200, {"ID": "r1", "Policies": [{"Name": "p"}]}),
            "/v1/acl/policy/p": (200, {"Name": "p", "RulesJSON": rules}),
        })  # fmt: skip
        check = await check_token(port, WANTED, "t")
        assert check.line.startswith('NOMAD_TOKEN lacks "deregister-job"')

    async def test_a_server_without_rules_json_is_not_checked(self) -> None:
        port = answering({
            "/v1/acl/token/self": (200, {"Type": "client", "Policies": ["p"]}),
            "/v1/acl/policy/p": (200, {"Name": "p", "Rules": "namespace ..."}),
        })  # fmt: skip
        assert (await check_token(port, WANTED, "t")).status is TokenStatus.SKIPPED

    async def test_nomad_failing_leaves_it_unknown(self) -> None:
        port = answering({"/v1/acl/token/self": (500, "rpc error: no cluster leader")})
        check = await check_token(port, WANTED, "t")
        assert (check.status, check.usable, check.ready) == (TokenStatus.UNKNOWN, True, False)
        assert check.line == (
            "cannot check NOMAD_TOKEN: Nomad GET /v1/acl/token/self: 500 "
            "rpc error: no cluster leader"
        )


def test_needs_of_settings_names_the_namespace_and_pools() -> None:
    settings = load_settings(
        {"GITHUB_WEBHOOK_SECRET": "s", "GITHUB_TOKEN": "t", "NOMAD_NAMESPACE": "ci"},
        '[[pools]]\nname = "gpu"\nnomad_job = "gpu-runner"\nlabels = ["gpu"]\n',
    )
    assert {need.namespace for need in needs_of(settings)} == {"ci"}
    variables = {need.path for need in needs_of(settings) if need.path}
    assert variables == {"nomad/jobs/gpu-runner/credentials/rod-1-1", STATE}


@pytest.mark.parametrize(
    "reconcile", ['state_variable = ""', "interval_seconds = 0  # the reconciler is off"]
)
def test_needs_of_settings_without_a_state_variable(reconcile: str) -> None:
    settings = load_settings(
        {"GITHUB_WEBHOOK_SECRET": "s", "GITHUB_TOKEN": "t"}, f"[reconcile]\n{reconcile}\n"
    )
    assert {need.path for need in needs_of(settings) if need.path} == {
        "nomad/jobs/github-runner/credentials/rod-1-1"
    }
