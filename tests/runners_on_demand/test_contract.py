"""Tests for runners_on_demand.contract: the Meta and Payload the runner job receives."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
from pathlib import Path

import pytest

from runners_on_demand.contract import (
    MAX_PAYLOAD_BYTES,
    DispatchRequest,
    JitConfig,
    RegistrationToken,
    build_dispatch,
    credential_items,
    credential_path,
    credentials_prefix,
    jitconfig_request,
)
from runners_on_demand.decision import Policy, Pool, StartRunner, decide
from runners_on_demand.delivery import WorkflowJobEvent, parse_delivery
from runners_on_demand.errors import ContractError
from runners_on_demand.scope import RunnerGroup

SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "workflow_job" / "06.queued.json"
JIT = base64.b64encode(b'{".runner":"eyJ9",".credentials":"c2VjcmV0LXJ1bm5lci10b2tlbg=="}').decode()
TOKEN = "AABF3JGZDX3P5PMEXLND6TS6FCWO6"
HCL = Path(__file__).resolve().parents[2] / "deploy" / "nomad" / "github-runner.nomad.hcl"


def queued_event() -> WorkflowJobEvent:
    """The real queued self-hosted example, once approved (status `queued`), through the real
    parser."""
    body = SAMPLE.read_bytes().replace(b'"status": "waiting"', b'"status": "queued"')
    signature = "sha256=" + hmac.new(b"s", body, hashlib.sha256).hexdigest()
    headers = {
        "X-GitHub-Event": "workflow_job",
        "X-GitHub-Delivery": "d",
        "X-Hub-Signature-256": signature,
        "Content-Type": "application/json",
    }
    event = parse_delivery(headers, body, secret="s")
    assert isinstance(event, WorkflowJobEvent)
    return event


EVENT = queued_event()
POOL = Pool("k8s", "github-runner-k8s", frozenset({"k8s"}))


def k8s_dispatch() -> StartRunner:
    """The decision for the example on a k8s pool."""
    decision = decide(EVENT, Policy(pools=(POOL,)))
    assert isinstance(decision, StartRunner)
    return decision


DISPATCH = k8s_dispatch()


def decoded(request: DispatchRequest) -> bytes:
    """The payload bytes Nomad writes to local/payload.json."""
    return base64.b64decode(request.payload, validate=True)


class TestBuildDispatch:
    def test_meta_matches_the_contract(self) -> None:
        request = build_dispatch(EVENT, DISPATCH)
        assert request.meta == {
            "REPO_FULL_NAME": "lineville/elastic-machines-testing",
            "REPO_SHORT_NAME": "elastic-machines-testing",
            "WORKFLOW_RUN": str(EVENT.run_id),
            "GITHUB_JOB_ID": str(EVENT.job_id),
            "RUNNER_NAME": f"rod-{EVENT.job_id}-1",
            "RUNNER_LABELS": "self-hosted,k8s",
        }

    def test_meta_keys_are_the_ones_the_job_spec_declares(self) -> None:
        spec = HCL.read_text()
        request = build_dispatch(EVENT, DISPATCH)
        for key in request.meta:
            assert f'"{key}"' in spec, key

    def test_target_job_and_token(self) -> None:
        request = build_dispatch(EVENT, DISPATCH)
        assert request.job_id == "github-runner-k8s"
        assert request.idempotency_token == f"rod-{EVENT.job_id}-1"

    def test_payload_is_compact_json_without_a_credential(self) -> None:
        raw = decoded(build_dispatch(EVENT, DISPATCH))
        assert b'", "' not in raw and b'": ' not in raw
        assert json.loads(raw) == {
            "repo": "lineville/elastic-machines-testing",
            "fork": False,
            "job": "test",
            "run_id": EVENT.run_id,
            "url": "https://github.com/lineville/elastic-machines-testing",
        }

    def test_fork_is_carried(self) -> None:
        fork = dataclasses.replace(EVENT, fork=True)
        assert json.loads(decoded(build_dispatch(fork, DISPATCH)))["fork"] is True

    def test_payload_limit_is_16_kib_decoded(self) -> None:
        overhead = len(decoded(build_dispatch(dataclasses.replace(EVENT, job_name=""), DISPATCH)))
        fits = dataclasses.replace(EVENT, job_name="A" * (MAX_PAYLOAD_BYTES - overhead))
        assert len(decoded(build_dispatch(fits, DISPATCH))) == MAX_PAYLOAD_BYTES == 16384
        over = dataclasses.replace(EVENT, job_name="A" * (MAX_PAYLOAD_BYTES - overhead + 1))
        with pytest.raises(ContractError, match="16384"):
            build_dispatch(over, DISPATCH)

    def test_payload_is_counted_in_utf8_bytes(self) -> None:
        with pytest.raises(ContractError):
            build_dispatch(dataclasses.replace(EVENT, job_name="é" * 8200), DISPATCH)

    def test_a_runner_job_nomad_cannot_hold_variables_for_is_refused(self) -> None:
        long_job = dataclasses.replace(DISPATCH, pool=Pool("p", "j" * 100))
        with pytest.raises(ContractError, match="shorten the pool's nomad_job"):
            build_dispatch(EVENT, long_job)

    def test_an_org_runner_registers_at_the_organization_in_its_group(self) -> None:
        group = RunnerGroup("lineville", 2, "linux")
        pool = dataclasses.replace(DISPATCH.pool, runner_group="Linux", group=group)
        org = dataclasses.replace(DISPATCH, pool=pool)
        document = json.loads(decoded(build_dispatch(EVENT, org)))
        assert document["url"] == "https://github.com/lineville"
        # config.sh --runnergroup, as GitHub names it (a JIT config holds the group already).
        assert document["runner_group"] == "linux"
        assert document["repo"] == EVENT.repo_full_name
        repository = json.loads(decoded(build_dispatch(EVENT, DISPATCH)))
        assert "runner_group" not in repository

    def test_body_is_nomads_dispatch_request(self) -> None:
        request = build_dispatch(EVENT, DISPATCH)
        assert request.body() == {
            "JobID": "github-runner-k8s",
            "Payload": request.payload,
            "Meta": request.meta,
        }


class TestCredentialVariable:
    def test_path_is_below_the_runner_job(self) -> None:
        assert credentials_prefix("github-runner") == "nomad/jobs/github-runner/credentials/"
        assert credential_path(DISPATCH) == (
            f"nomad/jobs/github-runner-k8s/credentials/rod-{EVENT.job_id}-1"
        )

    def test_items_are_the_job_specs_names(self) -> None:
        assert credential_items(JitConfig(JIT)) == {"jit_config": JIT}
        assert credential_items(RegistrationToken(TOKEN)) == {"registration_token": TOKEN}

    def test_the_job_spec_reads_both_names(self) -> None:
        spec = HCL.read_text()
        assert "credentials/%s" in spec and "jit_config" in spec and "registration_token" in spec

    def test_a_credential_over_nomads_limit_is_refused(self) -> None:
        with pytest.raises(ContractError, match="65536"):
            credential_items(JitConfig("A" * 65536))


class TestCredentialRepr:
    def test_jit_config_repr_hides_the_secret(self) -> None:
        assert JIT not in repr(JitConfig(JIT)) and JIT not in str(JitConfig(JIT))
        assert "redacted" in repr(JitConfig(JIT))

    def test_registration_token_repr_hides_the_secret(self) -> None:
        assert TOKEN not in repr(RegistrationToken(TOKEN))
        assert TOKEN not in f"{RegistrationToken(TOKEN)}"


class TestJitconfigRequest:
    def test_body(self) -> None:
        assert jitconfig_request(DISPATCH, 7) == {
            "name": f"rod-{EVENT.job_id}-1",
            "runner_group_id": 7,
            "labels": ["self-hosted", "k8s"],
            "work_folder": "_work",
        }
