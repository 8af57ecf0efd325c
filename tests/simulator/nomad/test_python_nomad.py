"""Fidelity: python-nomad 2.1.0, a client nobody here wrote, drives the served emulator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import nomad
import pytest
from nomad.api import exceptions

from simulator.nomad import NomadEmulator

from .conftest import RUNNER_META, SPEC, b64


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[NomadEmulator]:
    for name in ("NOMAD_ADDR", "NOMAD_TOKEN", "NOMAD_NAMESPACE", "NOMAD_REGION"):
        monkeypatch.delenv(name, raising=False)
    emu = NomadEmulator(driver="inprocess").start()
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture
def api(served: NomadEmulator) -> nomad.Nomad:
    url = urlsplit(served.url)
    return nomad.Nomad(host=url.hostname, port=url.port, timeout=10)


@pytest.fixture
def runner_job(api: nomad.Nomad) -> str:
    """The project's real spec, parsed and registered through python-nomad."""
    job = api.jobs.parse(SPEC.read_text())
    reply = api.jobs.register_job({"Job": job})
    assert reply["EvalID"] == ""
    return str(job["ID"])


def dispatch(api: nomad.Nomad, job_id: str, **kwargs: object) -> str:
    reply = api.job.dispatch_job(
        job_id, payload=b64('{"jit_config":"x"}'), meta=RUNNER_META, **kwargs
    )
    return str(reply["DispatchedJobID"])


class TestPythonNomad:
    def test_register_dispatch_read(self, api: nomad.Nomad, runner_job: str) -> None:
        child = dispatch(api, runner_job, id_prefix_template="rod")
        assert child.startswith("github-runner/dispatch-rod-")
        job = api.job.get_job(child)
        assert job["Dispatched"] is True and job["ParentID"] == runner_job
        assert job["Meta"]["RUNNER_NAME"] == "rod-200-1"
        assert job["Meta"]["managed_by"] == "runners-on-demand"
        listed = api.jobs.get_jobs(prefix="github-runner")
        assert [j["ID"] for j in listed] == [runner_job, child]
        # A twin sharing the prefix lists between the parent and its children, in every
        # namespace too: Nomad's (Namespace, ID) order, which rod's find_job relies on.
        twin = {**api.job.get_job(runner_job), "ID": f"{runner_job}-gpu", "Name": "gpu"}
        api.jobs.register_job({"Job": twin})
        for namespace in (None, "*"):
            listed = api.jobs.get_jobs(prefix="github-runner", namespace=namespace)
            assert [j["ID"] for j in listed] == [runner_job, f"{runner_job}-gpu", child]
        assert api.jobs.get_jobs(prefix="nothing") == []
        # python-nomad sends meta=True as `True`, which Go's ParseBool accepts.
        (stub,) = api.jobs.get_jobs(prefix=f"{runner_job}/", meta=True)
        assert stub["Meta"]["RUNNER_NAME"] == "rod-200-1"
        summary = api.job.get_summary(runner_job)
        assert sum(summary["Children"].values()) == 1
        (alloc,) = api.job.get_allocations(child)
        assert alloc["JobID"] == child and alloc["TaskGroup"] == "runner"

    def test_snake_case_token_is_ignored_query_token_works(
        self, api: nomad.Nomad, served: NomadEmulator, runner_job: str
    ) -> None:
        # python-nomad puts `idempotency_token` in the JSON body, which Nomad ignores (§2).
        first = dispatch(api, runner_job, idempotency_token="rod-200-1")
        second = dispatch(api, runner_job, idempotency_token="rod-200-1")
        assert first != second
        assert api.job.get_job(first)["DispatchIdempotencyToken"] == ""
        # The documented query parameter does dedupe.
        url = f"{served.url}/v1/job/{runner_job}/dispatch"
        body = {"Meta": RUNNER_META, "Payload": b64("{}")}
        replies = [
            httpx.post(url, params={"idempotency_token": "rod-200-2"}, json=body).json()
            for _ in range(2)
        ]
        assert replies[0]["DispatchedJobID"] == replies[1]["DispatchedJobID"]
        assert replies[1]["EvalID"] == "" and replies[1]["EvalCreateIndex"] == 0

    def test_deregister_purge_and_gc(self, api: nomad.Nomad, runner_job: str) -> None:
        child = dispatch(api, runner_job)
        api.job.deregister_job(child)
        assert api.job.get_job(child)["Stop"] is True
        assert api.system.initiate_garbage_collection() is True
        with pytest.raises(exceptions.URLNotFoundNomadException):
            api.job.get_job(child)
        api.job.deregister_job(runner_job, purge=True)
        with pytest.raises(exceptions.URLNotFoundNomadException) as err:
            api.job.get_job(runner_job)
        assert err.value.nomad_resp.text == "job not found"

    def test_validation_errors_are_plain_500s(self, api: nomad.Nomad, runner_job: str) -> None:
        with pytest.raises(exceptions.BaseNomadException) as err:
            api.job.dispatch_job(runner_job, meta=RUNNER_META)
        assert type(err.value) is exceptions.BaseNomadException
        assert err.value.nomad_resp.status_code == 500
        assert err.value.nomad_resp.text == (
            "Payload is not provided but required by parameterized job"
        )
        with pytest.raises(exceptions.BaseNomadException) as err:
            api.job.dispatch_job("nope", payload=b64("x"), meta=RUNNER_META)
        assert err.value.nomad_resp.text == "parameterized job not found"

    def test_unknown_and_leader(self, api: nomad.Nomad) -> None:
        assert api.status.leader.get_leader() == "127.0.0.1:4647"
        assert api.job.get_allocations("ghost") == []
        with pytest.raises(exceptions.URLNotFoundNomadException):
            api.job.get_summary("ghost")

    def test_acl_token(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("NOMAD_TOKEN", raising=False)
        monkeypatch.delenv("NOMAD_ADDR", raising=False)
        emu = NomadEmulator(acl_token="t0k").start()
        try:
            url = urlsplit(emu.url)
            denied = nomad.Nomad(host=url.hostname, port=url.port, token="bad")
            with pytest.raises(exceptions.URLNotAuthorizedNomadException):
                denied.jobs.get_jobs()
            allowed = nomad.Nomad(host=url.hostname, port=url.port, token="t0k")
            assert allowed.jobs.get_jobs() == []
        finally:
            emu.stop()


ROD_POLICY = Path(__file__).parents[3] / "deploy" / "nomad" / "rod-policy.hcl"


class TestVariablesAndAcl:
    """python-nomad's `variable(s)` and `acl` endpoints against the emulator."""

    @pytest.fixture
    def secured(self, monkeypatch: pytest.MonkeyPatch) -> Iterator[nomad.Nomad]:
        for name in ("NOMAD_ADDR", "NOMAD_TOKEN", "NOMAD_NAMESPACE", "NOMAD_REGION"):
            monkeypatch.delenv(name, raising=False)
        emu = NomadEmulator(driver="inprocess", acl_enabled=True).start()
        url = urlsplit(emu.url)
        try:
            yield nomad.Nomad(host=url.hostname, port=url.port, timeout=10)
        finally:
            emu.stop()

    def test_variables_with_check_and_set(self, api: nomad.Nomad) -> None:
        created = api.variable.create_variable(
            "nomad/jobs/rod", {"Items": {"GITHUB_TOKEN": "t"}}, cas=0
        )
        assert created["Items"] == {"GITHUB_TOKEN": "t"}
        with pytest.raises(exceptions.VariableConflict) as conflict:
            api.variable.create_variable("nomad/jobs/rod", {"Items": {"X": "y"}}, cas=0)
        assert conflict.value.nomad_resp.status_code == 409
        assert api.variable.get_variable("nomad/jobs/rod")["Items"] == {"GITHUB_TOKEN": "t"}
        assert [v["Path"] for v in api.variables.get_variables(prefix="nomad/")] == [
            "nomad/jobs/rod"
        ]
        assert api.variable.delete_variable("nomad/jobs/rod").status_code == 204
        with pytest.raises(exceptions.URLNotFoundNomadException):
            api.variable.get_variable("nomad/jobs/rod")

    def test_bootstrap_policy_token(self, secured: nomad.Nomad) -> None:
        root = secured.acl.generate_bootstrap()
        admin = nomad.Nomad(host=secured.host, port=secured.port, token=root["SecretID"])
        reply = admin.acl.create_policy(
            "rod", {"Name": "rod", "Rules": ROD_POLICY.read_text(), "Description": "rod serve"}
        )
        assert reply.status_code == 200
        token = admin.acl.create_token({"Name": "rod", "Type": "client", "Policies": ["rod"]})
        assert [p["Name"] for p in admin.acl.get_policies()] == ["rod"]
        rod = nomad.Nomad(host=secured.host, port=secured.port, token=token["SecretID"])
        assert rod.acl.get_self_token()["Policies"] == ["rod"]
        assert rod.jobs.get_jobs() == []
        with pytest.raises(exceptions.URLNotAuthorizedNomadException):
            rod.jobs.register_job({"Job": {"ID": "x", "TaskGroups": []}})
        with pytest.raises(exceptions.URLNotAuthorizedNomadException):
            rod.system.initiate_garbage_collection()
