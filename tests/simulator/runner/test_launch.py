"""Tests for simulator.runner.launch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simulator.runner.errors import BadInput
from simulator.runner.launch import (
    JitLaunch,
    RegistrationLaunch,
    credential_path,
    launch_from,
    payload_path,
    read_payload,
    take_credential,
)

META = {"NOMAD_META_RUNNER_NAME": "rod-5-1", "NOMAD_META_RUNNER_LABELS": "self-hosted,gpu"}


class TestLaunchFrom:
    def test_explicit_jitconfig_wins_over_the_payload(self) -> None:
        payload = json.dumps({"jit_config": "from-payload"})
        assert launch_from(jitconfig="given", payload_text=payload, env={}) == JitLaunch("given")

    def test_jit_config_from_the_payload(self) -> None:
        payload = json.dumps({"repo": "o/r", "url": "https://github.com/o/r", "jit_config": "J"})
        assert launch_from(jitconfig=None, payload_text=payload, env={}) == JitLaunch("J")

    def test_registration_token_uses_the_meta_like_config_sh(self) -> None:
        payload = json.dumps({"url": "http://127.0.0.1:1/o/r", "registration_token": "T"})
        launch = launch_from(jitconfig=None, payload_text=payload, env=META)
        assert launch == RegistrationLaunch(
            url="http://127.0.0.1:1/o/r", token="T", name="rod-5-1", labels=("self-hosted", "gpu")
        )
        assert "T" not in repr(launch).replace("RegistrationLaunch", "")

    def test_labels_default_when_the_optional_meta_is_absent(self) -> None:
        payload = json.dumps({"url": "http://h/o/r", "registration_token": "T"})
        env = {"NOMAD_META_RUNNER_NAME": "n"}
        launch = launch_from(jitconfig=None, payload_text=payload, env=env)
        assert isinstance(launch, RegistrationLaunch)
        assert launch.labels == ("self-hosted",)

    def test_an_org_runner_may_name_its_runner_group(self) -> None:
        payload = json.dumps(
            {"url": "http://h/acme", "registration_token": "T", "runner_group": "gpu"}
        )
        launch = launch_from(jitconfig=None, payload_text=payload, env=META)
        assert isinstance(launch, RegistrationLaunch) and launch.runner_group == "gpu"

    @pytest.mark.parametrize(
        ("payload", "env", "problem"),
        [
            ("{", META, "not valid JSON"),
            ("[]", META, "not a JSON object"),
            ('{"jit_config": ""}', META, "has a jit_config or a registration_token"),
            ('{"registration_token": "T"}', META, "no http\\(s\\) url"),
            ('{"registration_token": "T", "url": "http://h/o/r"}', {}, "RUNNER_NAME is not set"),
            (
                '{"registration_token": "T", "url": "http://h/o", "runner_group": 1}',
                META,
                "runner_group is not a string",
            ),
        ],
    )
    def test_bad_payloads(self, payload: str, env: dict[str, str], problem: str) -> None:
        with pytest.raises(BadInput, match=problem):
            launch_from(jitconfig=None, payload_text=payload, env=env)

    def test_nothing_to_read(self) -> None:
        with pytest.raises(BadInput, match="no JIT config"):
            launch_from(jitconfig=None, payload_text=None, env={})

    def test_the_credential_file_wins_over_the_payload(self) -> None:
        payload = json.dumps({"url": "http://h/o/r", "jit_config": "from-payload"})
        credential = {"jit_config": "from-variable"}
        launch = launch_from(jitconfig=None, payload_text=payload, env={}, credential=credential)
        assert launch == JitLaunch("from-variable")
        assert launch_from(
            jitconfig=None, payload_text=None, env={}, credential=credential
        ) == JitLaunch("from-variable")

    def test_registration_token_from_the_credential_file_url_from_the_payload(self) -> None:
        payload = json.dumps({"url": "http://h/o/r"})  # the payload keeps no secret
        credential = {"registration_token": "T"}
        launch = launch_from(jitconfig=None, payload_text=payload, env=META, credential=credential)
        assert isinstance(launch, RegistrationLaunch)
        assert (launch.token, launch.url) == ("T", "http://h/o/r")


class TestTakeCredential:
    def test_read_then_removed(self, tmp_path: Path) -> None:
        path = credential_path({"NOMAD_SECRETS_DIR": str(tmp_path)})
        assert path == tmp_path / "credential"
        path.write_text("jit_config=abc==\n")
        assert take_credential(path) == {"jit_config": "abc=="}
        assert not path.exists()  # the job's steps run as the runner's user

    def test_absent_or_empty_is_no_credential(self, tmp_path: Path) -> None:
        assert credential_path({}) is None
        assert take_credential(None) == {}
        assert take_credential(tmp_path / "credential") == {}
        (tmp_path / "credential").write_text("")
        assert take_credential(tmp_path / "credential") == {}


class TestPayloadPath:
    def test_nomad_task_dir(self) -> None:
        assert payload_path({"NOMAD_TASK_DIR": "/alloc/t/local"}) == Path(
            "/alloc/t/local/payload.json"
        )

    def test_override(self) -> None:
        assert payload_path({}, Path("/x.json")) == Path("/x.json")

    def test_no_task_dir(self) -> None:
        with pytest.raises(BadInput, match="NOMAD_TASK_DIR is not set"):
            payload_path({})


class TestReadPayload:
    def test_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(BadInput, match="does not exist"):
            read_payload(tmp_path / "payload.json")

    def test_reads_text(self, tmp_path: Path) -> None:
        (tmp_path / "payload.json").write_text("{}")
        assert read_payload(tmp_path / "payload.json") == "{}"
