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
    def test_explicit_jitconfig_wins_over_the_credential_file(self) -> None:
        credential = {"jit_config": "from-variable"}
        launch = launch_from(jitconfig="given", payload_text=None, env={}, credential=credential)
        assert launch == JitLaunch("given")

    def test_jit_config_from_the_credential_file(self) -> None:
        credential = {"jit_config": "J"}
        assert launch_from(
            jitconfig=None, payload_text=None, env={}, credential=credential
        ) == JitLaunch("J")

    def test_never_a_credential_from_the_payload(self) -> None:
        # Issue 10 item 3: the payload is readable with read-job; it must not start a runner.
        payload = json.dumps({"url": "http://h/o/r", "jit_config": "J", "registration_token": "T"})
        with pytest.raises(BadInput, match="credential file"):
            launch_from(jitconfig=None, payload_text=payload, env=META)

    def test_registration_token_uses_the_meta_like_config_sh(self) -> None:
        payload = json.dumps({"url": "http://127.0.0.1:1/o/r"})
        launch = launch_from(
            jitconfig=None, payload_text=payload, env=META, credential={"registration_token": "T"}
        )
        assert launch == RegistrationLaunch(
            url="http://127.0.0.1:1/o/r", token="T", name="rod-5-1", labels=("self-hosted", "gpu")
        )
        assert "T" not in repr(launch).replace("RegistrationLaunch", "")

    def test_labels_default_when_the_optional_meta_is_absent(self) -> None:
        payload = json.dumps({"url": "http://h/o/r"})
        env = {"NOMAD_META_RUNNER_NAME": "n"}
        launch = launch_from(
            jitconfig=None, payload_text=payload, env=env, credential={"registration_token": "T"}
        )
        assert isinstance(launch, RegistrationLaunch)
        assert launch.labels == ("self-hosted",)

    def test_an_org_runner_may_name_its_runner_group(self) -> None:
        payload = json.dumps({"url": "http://h/acme", "runner_group": "gpu"})
        launch = launch_from(
            jitconfig=None, payload_text=payload, env=META, credential={"registration_token": "T"}
        )
        assert isinstance(launch, RegistrationLaunch) and launch.runner_group == "gpu"

    @pytest.mark.parametrize(
        ("payload", "env", "problem"),
        [
            ("{", META, "not valid JSON"),
            ("[]", META, "not a JSON object"),
            ("{}", META, "no http\\(s\\) url"),
            ('{"url": "http://h/o/r"}', {}, "RUNNER_NAME is not set"),
            ('{"url": "http://h/o", "runner_group": 1}', META, "runner_group is not a string"),
            (None, META, "there is no payload"),
        ],
    )
    def test_bad_payloads_for_registration(
        self, payload: str | None, env: dict[str, str], problem: str
    ) -> None:
        with pytest.raises(BadInput, match=problem):
            launch_from(
                jitconfig=None,
                payload_text=payload,
                env=env,
                credential={"registration_token": "T"},
            )

    @pytest.mark.parametrize("credential", [None, {}, {"jit_config": ""}])
    def test_nothing_to_start_from(self, credential: dict[str, str] | None) -> None:
        with pytest.raises(BadInput, match="no JIT config given"):
            launch_from(jitconfig=None, payload_text="{}", env=META, credential=credential)


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
