"""deploy/nomad/*-policy.hcl on the ACL-enforcing Nomad emulator, driven by rod's own Nomad port.

Regression test for issue 11 bug 3: the documented token (dispatch-job, read-job) could not list
or stop children, so every reconcile tick got 403. A token of rod-policy.hcl does every Nomad call
`rod serve` and `rod reconcile` make; without any one of its capabilities that call is refused;
and it can do nothing else a runner-job reader or submitter could.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from runners_on_demand.contract import DispatchRequest
from runners_on_demand.errors import NomadError
from runners_on_demand.ports import VariableConflict, VariableMeta
from runners_on_demand.ports.nomad import NomadHttp
from simulator.nomad import NomadEmulator

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "nomad"
ROD_RULES = (DEPLOY / "rod-policy.hcl").read_text()
RUNNER_RULES = (DEPLOY / "github-runner-policy.hcl").read_text()
ADMIN = {"X-Nomad-Token": "management"}
META = {
    "REPO_FULL_NAME": "octo/hello",
    "REPO_SHORT_NAME": "hello",
    "WORKFLOW_RUN": "1",
    "GITHUB_JOB_ID": "2",
    "RUNNER_NAME": "rod-2-1",
}
CREDENTIAL = "/v1/var/nomad/jobs/github-runner/credentials/rod-2-1"
STATE = "rod/served-repos"  # [reconcile] state_variable's default
STATE_RULE = f'    path "{STATE}" {{\n      capabilities = ["read", "write"]\n    }}\n'


@pytest.fixture
async def admin() -> AsyncIterator[httpx.AsyncClient]:
    """An ACL-enforcing emulator with the runner job registered; a management client on it."""
    emulator = NomadEmulator(driver="inprocess", acl_token=ADMIN["X-Nomad-Token"])
    async with emulator.client(headers=ADMIN, timeout=10) as client:
        hcl = (DEPLOY / "github-runner.nomad.hcl").read_text()
        job = (await client.post("/v1/jobs/parse", json={"JobHCL": hcl})).json()
        assert (await client.post("/v1/jobs", json={"Job": job})).status_code == 200
        yield client
    emulator.stop()


async def token_for(admin: httpx.AsyncClient, name: str, rules: str) -> str:
    policy = await admin.put(f"/v1/acl/policy/{name}", json={"Name": name, "Rules": rules})
    assert policy.status_code == 200, policy.text
    body = {"Name": name, "Type": "client", "Policies": [name]}
    token: str = (await admin.post("/v1/acl/token", json=body)).json()["SecretID"]
    return token


_NAMESPACE_CAPABILITIES = re.compile(r"^  capabilities = (\[.*\])$", re.MULTILINE)


def capabilities(rules: str) -> list[str]:
    """The namespace block's capability list (not the variables block's)."""
    match = _NAMESPACE_CAPABILITIES.search(rules)
    assert match is not None
    found: list[str] = json.loads(match.group(1))
    return found


def without(rules: str, capability: str) -> str:
    kept = json.dumps([c for c in capabilities(rules) if c != capability])
    return _NAMESPACE_CAPABILITIES.sub(f"  capabilities = {kept}", rules)


def dispatch_request(token: str) -> DispatchRequest:
    payload = base64.b64encode(b'{"repo": "octo/hello"}').decode()
    return DispatchRequest(
        job_id="github-runner", idempotency_token=token, meta=META, payload=payload
    )


@pytest.fixture
async def child(admin: httpx.AsyncClient) -> str:
    """A dispatched child for the reconciler's stop."""
    management = NomadHttp(admin, token=ADMIN["X-Nomad-Token"])
    return (await management.dispatch(dispatch_request("rod-2-0"))).dispatched_job_id


def rod_calls(nomad: NomadHttp, child: str) -> dict[str, Callable[[], Awaitable[Any]]]:
    """Every Nomad call of `rod serve`/`rod reconcile`, by the capability it needs."""
    return {
        "dispatch-job": lambda: nomad.dispatch(dispatch_request("rod-2-1")),
        "list-jobs": lambda: nomad.list_children("github-runner"),
        "deregister-job": lambda: nomad.stop_job(child),
    }


class TestRodPolicy:
    async def test_the_token_does_every_call_rod_makes(
        self, admin: httpx.AsyncClient, child: str
    ) -> None:
        nomad = NomadHttp(admin, token=await token_for(admin, "rod", ROD_RULES))
        calls = rod_calls(nomad, child)
        assert set(calls) == set(capabilities(ROD_RULES))  # one capability per call, no more
        for call in calls.values():
            await call()
        await nomad.health()
        assert child in {c.id for c in await nomad.list_children("github-runner")}

    @pytest.mark.parametrize("missing", capabilities(ROD_RULES))
    async def test_each_capability_is_needed(
        self, admin: httpx.AsyncClient, child: str, missing: str
    ) -> None:
        nomad = NomadHttp(admin, token=await token_for(admin, "part", without(ROD_RULES, missing)))
        calls = rod_calls(nomad, child)
        with pytest.raises(NomadError) as refused:
            await calls.pop(missing)()
        assert refused.value.status == 403 and "Permission denied" in str(refused.value)
        for call in calls.values():
            await call()

    async def test_nothing_more(self, admin: httpx.AsyncClient) -> None:
        rod = {"X-Nomad-Token": await token_for(admin, "rod", ROD_RULES)}
        job = (await admin.get("/v1/job/github-runner")).json()
        refused = [
            await admin.get("/v1/job/github-runner", headers=rod),  # read-job: payloads, meta
            await admin.post("/v1/jobs", json={"Job": job}, headers=rod),  # submit-job
            await admin.delete("/v1/job/github-runner?purge=true", headers=rod),  # purge-job
            await admin.get(CREDENTIAL, headers=rod),  # it never reads a credential back
            await admin.put("/v1/var/nomad/jobs/rod", json={"Items": {"a": "b"}}, headers=rod),
            await admin.get("/v1/var/rod/other", headers=rod),  # the state Variable only
            await admin.put("/v1/var/rod/other", json={"Items": {"a": "b"}}, headers=rod),
            await admin.delete(f"/v1/var/{STATE}", headers=rod),
            await admin.get("/v1/nodes", headers=rod),
        ]
        assert [r.status_code for r in refused] == [403] * len(refused)

    async def test_credential_variables(self, admin: httpx.AsyncClient) -> None:
        # What the pipeline and the reconciler do with them, through rod's own Nomad port.
        nomad = NomadHttp(admin, token=await token_for(admin, "rod", ROD_RULES))
        path = CREDENTIAL.removeprefix("/v1/var/")
        made = await nomad.put_variable(path, {"jit_config": "j"}, cas=0)
        assert isinstance(made, VariableMeta)
        again = await nomad.put_variable(path, {"jit_config": "k"}, cas=0)
        # A lost check-and-set shows the Variable's index, never its items (rod may not read).
        assert isinstance(again, VariableConflict)
        assert again.current.modify_index == made.modify_index
        replaced = await nomad.put_variable(path, {"jit_config": "k"}, cas=made.modify_index)
        assert isinstance(replaced, VariableMeta)
        listed = await nomad.list_variables(path)
        assert [v.path for v in listed] == [path]
        await nomad.delete_variable(path)
        await nomad.delete_variable(path)  # a Variable already gone is no error
        assert await nomad.list_variables("nomad/jobs/github-runner/credentials/") == []

    async def test_the_state_variable(self, admin: httpx.AsyncClient) -> None:
        # What the reconciler does with it (heard_variable.py), through rod's own Nomad port.
        nomad = NomadHttp(admin, token=await token_for(admin, "rod", ROD_RULES))
        assert await nomad.read_variable(STATE) is None
        made = await nomad.put_variable(STATE, {"repos": "[]"}, cas=0)
        assert isinstance(made, VariableMeta)
        other = await nomad.put_variable(STATE, {"repos": '[["octo/a",1]]'}, cas=made.modify_index)
        lost = await nomad.put_variable(STATE, {"repos": "[]"}, cas=made.modify_index)
        assert isinstance(other, VariableMeta) and isinstance(lost, VariableConflict)
        read = await nomad.read_variable(STATE)
        assert read is not None and read.meta.modify_index == other.modify_index
        assert read.items == {"repos": '[["octo/a",1]]'}

    async def test_without_its_rule_the_state_variable_is_refused(
        self, admin: httpx.AsyncClient
    ) -> None:
        assert STATE_RULE in ROD_RULES
        rules = ROD_RULES.replace(STATE_RULE, "")
        nomad = NomadHttp(admin, token=await token_for(admin, "part", rules))
        for call in (
            lambda: nomad.read_variable(STATE),
            lambda: nomad.put_variable(STATE, {"repos": "[]"}, cas=0),
        ):
            with pytest.raises(NomadError) as refused:
                await call()
            assert refused.value.status == 403


class TestRunnerPolicy:
    async def test_it_is_a_job_attached_read_only_policy(self, admin: httpx.AsyncClient) -> None:
        job_acl = {
            "Namespace": "default",
            "JobID": "github-runner",
            "Group": "runner",
            "Task": "runner",
        }
        body = {"Name": "github-runner", "Rules": RUNNER_RULES, "JobACL": job_acl}
        assert (await admin.put("/v1/acl/policy/github-runner", json=body)).status_code == 200
        read = (await admin.get("/v1/acl/policy/github-runner")).json()
        (namespace,) = read["RulesJSON"]["Namespaces"]
        assert namespace["Capabilities"] == []
        assert namespace["Variables"]["Paths"] == [
            {"PathSpec": "nomad/jobs/github-runner/credentials/*", "Capabilities": ["list", "read"]}
        ]
        assert read["JobACL"] == job_acl
