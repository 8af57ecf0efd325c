"""Fidelity: python-nomad 2.1.0, a client nobody here wrote, drives the served emulator."""

from __future__ import annotations

from collections.abc import Iterator
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
