"""The Nomad job specs in deploy/nomad: they parse, keep the dispatch contract, and the runner
task's default script really starts the runner from the credential its template rendered, never
from the payload, and leaves no credential behind."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from runners_on_demand.contract import DispatchRequest, build_dispatch
from runners_on_demand.decision import Policy, StartRunner, decide
from runners_on_demand.delivery import WorkflowJobEvent, parse_delivery
from simulator.emit import Target, build_delivery, workflow_job_payload
from simulator.github.webhooks import Hook
from tests.deploy.specs import dockerfile_entrypoint, job_body, load


def variable_default(spec: dict[str, Any], name: str) -> Any:
    for block in spec["variable"]:
        if name in block:
            return block[name]["default"]
    raise KeyError(name)


def template_literal(text: str) -> str:
    """What HCL makes of a template without interpolations: `$${` and `%%{` are escapes."""
    # https://developer.hashicorp.com/terraform/language/expressions/strings#escape-sequences-1
    return text.replace("$${", "${").replace("%%{", "%{")


def dispatch_for(labels: list[str]) -> DispatchRequest:
    """The dispatch rod makes for a signed queued delivery, through the real core."""
    hook = Hook(1, "octo/hello", 1, ["workflow_job"], True, {"url": "u", "secret": "s"}, 0, 0)
    payload = workflow_job_payload(
        Target("octo/hello"), action="queued", labels=labels, job_id=42, run_id=7, now=0.0
    )
    headers, body = build_delivery(hook, "workflow_job", payload, delivery_id="d-1")
    event = parse_delivery(headers, body, secret="s")
    assert isinstance(event, WorkflowJobEvent)
    decision = decide(event, Policy())
    assert isinstance(decision, StartRunner)
    return build_dispatch(event, decision)


class TestGithubRunnerJob:
    spec = load("github-runner.nomad.hcl")
    name, job = job_body(spec)
    group = job["group"][0]["runner"]
    task = group["task"][0]["runner"]

    def test_is_the_parameterized_batch_job_rod_dispatches(self) -> None:
        assert self.name == Policy().pools[0].nomad_job == "github-runner"
        assert self.job["type"] == "batch"
        assert self.job["meta"] == [{"managed_by": "runners-on-demand"}]

    def test_meta_keys_match_what_the_dispatcher_sends(self) -> None:
        (parameterized,) = self.job["parameterized"]
        meta = dispatch_for(["self-hosted"]).meta
        assert parameterized["payload"] == "required"
        assert set(parameterized["meta_required"]) | set(parameterized["meta_optional"]) == set(
            meta
        )
        assert set(parameterized["meta_required"]) <= set(meta)
        assert not set(parameterized["meta_required"]) & set(parameterized["meta_optional"])

    def test_payload_lands_in_payload_json(self) -> None:
        assert self.task["dispatch_payload"] == [{"file": "payload.json"}]

    def test_the_credential_is_rendered_from_its_variable_into_secrets(self) -> None:
        (template,) = self.task["template"]
        assert template["destination"] == "secrets/credential"
        assert (template["perms"], template["change_mode"]) == ("0400", "noop")
        # Blocking: without the runner policy the task waits, visibly, for its credential.
        assert "{{ with nomadVar (printf" in template["data"]
        assert "nomadVarExists" not in template["data"]
        assert '"nomad/jobs/%s/credentials/%s" (env "NOMAD_JOB_PARENT_ID")' in template["data"]

    def test_an_ephemeral_runner_is_never_restarted_or_rescheduled(self) -> None:
        assert self.group["restart"] == [{"attempts": 0, "mode": "fail"}]
        assert self.group["reschedule"][0]["attempts"] == 0
        assert self.group["reschedule"][0]["unlimited"] is False

    def test_docker_driver_runs_the_variables(self) -> None:
        assert self.task["driver"] == "docker"
        assert self.task["config"] == [
            {
                "image": "${var.image}",
                "command": "${var.runner_command}",
                "args": "${var.runner_args}",
            }
        ]
        assert variable_default(self.spec, "image").startswith("ghcr.io/actions/actions-runner:")
        assert self.task["resources"] == [{"cpu": "${var.cpu}", "memory": "${var.memory}"}]


class TestRodJob:
    spec = load("rod.nomad.hcl")
    name, job = job_body(spec)
    group = job["group"][0]["dispatcher"]
    task = group["task"][0]["rod"]

    def test_two_instances_of_a_service(self) -> None:
        assert self.job["type"] == "service"
        assert self.group["count"] == 2

    def test_checks(self) -> None:
        (service,) = self.group["service"]
        checks = {check["name"]: check for check in service["check"]}
        assert checks["alive"]["path"] == "/healthz"
        assert checks["alive"]["type"] == "http"
        assert "check_restart" in checks["alive"]
        assert checks["ready"]["path"] == "/readyz"
        assert "check_restart" not in checks["ready"]

    def test_image_and_args(self) -> None:
        (config,) = self.task["config"]
        assert self.task["driver"] == "docker"
        assert config["image"] == "${var.image}"
        assert config["entrypoint"] == "${var.entrypoint}"
        # Never empty: Docker would run the args alone rather than the image's ENTRYPOINT.
        assert variable_default(self.spec, "entrypoint") == dockerfile_entrypoint("rod")
        # Runtime interpolation: /local in the container, the task dir on any other driver; the
        # instance's own dynamic port (docker maps it to the same port in the container).
        assert config["args"] == [
            "--config", "${NOMAD_TASK_DIR}/rod.toml", "--port", "${NOMAD_PORT_http}",
        ]  # fmt: skip
        (network,) = self.group["network"]
        assert network["port"] == [{"http": {}}]  # no `to`, no `static`: never two on one port

    def test_secrets_come_from_templates_not_the_job(self) -> None:
        templates = {t["destination"]: t for t in self.task["template"]}
        env, key = templates["secrets/rod.env"], templates["secrets/github-app.pem"]
        assert env["env"] is True
        for template in (env, key):
            assert '{{ with nomadVar "nomad/jobs/rod" ' in template["data"]
        assert set(self.task["env"][0]) == {"GITHUB_API_URL", "NOMAD_ADDR"}
        assert templates["local/rod.toml"]["data"] == "${var.config_toml}"


FAKE_RUNNER_SCRIPT = """#!/bin/bash
# Records how it was started: its arguments and the ACTIONS_RUNNER_INPUT_* it was given.
{ echo "$(basename "$0")"; for arg in "$@"; do echo "arg=$arg"; done
  env | grep '^ACTIONS_RUNNER_INPUT_' || true; } >> "$RECORD"
"""


class TestDefaultRunnerScript:
    """bash runs the job spec's own default `runner_args` with a fake runner install."""

    script = template_literal(variable_default(load("github-runner.nomad.hcl"), "runner_args")[1])

    def run(
        self, tmp_path: Path, request: DispatchRequest, credential: str = "", **meta: str
    ) -> tuple[int, str, str]:
        home, task_dir, secrets = tmp_path / "home", tmp_path / "local", tmp_path / "secrets"
        for directory in (home, task_dir, secrets):
            directory.mkdir()
        if credential:  # what the runner job's template renders from the Nomad Variable
            (secrets / "credential").write_text(credential)
        for name in ("config.sh", "run.sh"):
            (home / name).write_text(FAKE_RUNNER_SCRIPT)
            (home / name).chmod(0o755)
        # What Nomad does with dispatch_payload: decode the base64 payload into local/payload.json.
        (task_dir / "payload.json").write_bytes(base64.b64decode(request.payload))
        record = tmp_path / "record.txt"
        env = {
            "PATH": os.environ["PATH"],
            "HOME": str(home),
            "RUNNER_HOME": str(home),
            "RECORD": str(record),
            "NOMAD_TASK_DIR": str(task_dir),
            "NOMAD_SECRETS_DIR": str(secrets),
            **{f"NOMAD_META_{key}": value for key, value in meta.items()},
        }
        done = subprocess.run(
            ["bash", "-c", self.script], env=env, capture_output=True, text=True, timeout=30
        )
        return done.returncode, record.read_text() if record.exists() else "", done.stderr

    def test_jit_config_goes_to_run_sh_through_the_environment(self, tmp_path: Path) -> None:
        jit = base64.b64encode(b'{".runner": "x", ".credentials": "y"}').decode()
        request = dispatch_for(["self-hosted", "linux"])

        code, record, stderr = self.run(tmp_path, request, f"jit_config={jit}\n", **request.meta)

        assert code == 0, stderr
        assert record.splitlines() == ["run.sh", f"ACTIONS_RUNNER_INPUT_JITCONFIG={jit}"]
        assert not (tmp_path / "secrets" / "credential").exists()  # removed before run.sh

    @pytest.mark.parametrize(
        ("labels_meta", "expected"),
        [("self-hosted,linux", "self-hosted,linux"), (None, "self-hosted")],
    )
    def test_registration_token_goes_to_config_sh_through_the_environment(
        self, tmp_path: Path, labels_meta: str | None, expected: str
    ) -> None:
        request = dispatch_for(["self-hosted", "linux"])
        meta = dict(request.meta)
        if labels_meta is None:
            del meta["RUNNER_LABELS"]  # optional meta: Nomad sets no variable for it

        code, record, stderr = self.run(
            tmp_path, request, "registration_token=AABBCC-reg-token\n", **meta
        )

        assert code == 0, stderr
        config, run = record.split("run.sh\n")
        assert config.splitlines() == [
            "config.sh",
            "arg=--unattended",
            "arg=--ephemeral",
            "arg=--disableupdate",
            "arg=--no-default-labels",
            "arg=--url",
            "arg=https://github.com/octo/hello",
            "arg=--name",
            "arg=rod-42-1",
            "arg=--labels",
            f"arg={expected}",
            "ACTIONS_RUNNER_INPUT_TOKEN=AABBCC-reg-token",
        ]
        assert run == ""  # run.sh starts with no arguments and no credential variable

    def test_an_org_runner_group_goes_to_config_sh(self, tmp_path: Path) -> None:
        request = dispatch_for(["self-hosted"])
        document = json.loads(base64.b64decode(request.payload))
        document["runner_group"] = "gpu builders"  # the dispatcher adds it for an org pool
        payload = base64.b64encode(json.dumps(document).encode()).decode()

        code, record, stderr = self.run(
            tmp_path,
            dataclasses.replace(request, payload=payload),
            "registration_token=AABBCC-reg-token\n",
            **request.meta,
        )

        assert code == 0, stderr
        config = record.split("run.sh\n")[0].splitlines()
        assert config[-3:-1] == ["arg=--runnergroup", "arg=gpu builders"]

    def test_a_credential_in_the_payload_starts_nothing(self, tmp_path: Path) -> None:
        # Issue 10 item 3: read-job reads the payload; the script must not take a credential
        # from it (an old dispatcher's payload, or a forged dispatch).
        request = dispatch_for(["self-hosted"])
        document = {**json.loads(base64.b64decode(request.payload)), "jit_config": "leaked"}
        payload = base64.b64encode(json.dumps(document).encode()).decode()

        code, record, stderr = self.run(
            tmp_path, dataclasses.replace(request, payload=payload), "", **request.meta
        )

        assert code != 0 and record == ""
        assert stderr.startswith("no runner credential in ")

    def test_without_the_credential_file_the_task_fails(self, tmp_path: Path) -> None:
        request = dispatch_for(["self-hosted"])
        (tmp_path / "home").mkdir()
        env = {"PATH": os.environ["PATH"], "RUNNER_HOME": str(tmp_path / "home"),
               "NOMAD_TASK_DIR": str(tmp_path / "missing"),
               "NOMAD_SECRETS_DIR": str(tmp_path / "missing")}  # fmt: skip
        done = subprocess.run(
            ["bash", "-c", self.script], env=env, capture_output=True, text=True, timeout=30
        )
        assert done.returncode != 0
        assert "no runner credential in" in done.stderr
        assert request.payload not in done.stderr

    def test_a_credential_file_without_either_item_starts_nothing(self, tmp_path: Path) -> None:
        request = dispatch_for(["self-hosted"])
        code, record, stderr = self.run(tmp_path, request, "other=x\n", **request.meta)
        assert code != 0 and record == ""
        assert "no jit_config or registration_token in" in stderr
        assert not (tmp_path / "secrets" / "credential").exists()
