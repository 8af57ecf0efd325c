"""README "Deploying" step by step on the Nomad emulator, down to the settings `rod serve` loads.

Regression tests for issue 11: lower-case Variable keys in the README (bug 1), an App key the
image's user cannot read (bug 2), raw secrets in an env file (bug 5), a placeholder image that
made `nomad job run` succeed without `-var image` (item 1), and the ACL commands of step 1.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from runners_on_demand.config import Settings, load_settings
from simulator.harness.readme_deploy import commands
from simulator.harness.waiting import wait_for
from simulator.nomad import NomadEmulator
from simulator.nomad.drivers import InProcessDriver, TaskContext
from tests.deploy.specs import (
    DEPLOY,
    ROOT,
    TLS,
    assert_tls_files,
    pem_templates_are_the_images_users,
    read_text,
    tls_items,
)

ROD_SPEC = (DEPLOY / "rod.nomad.hcl").read_text()
ADMIN = {"X-Nomad-Token": "management"}
# What an operator's secrets may look like: `#`, both quotes, a newline, a backslash, `<&>`.
AWKWARD = "s#3 \"cr'et\\ <&>\nsecond line"


def command(prefix: str) -> list[str]:
    """The README "Deploying" command starting with `prefix`, word-split as sh would."""
    env = {"GITHUB_TOKEN": "t", "GITHUB_WEBHOOK_SECRET": "s"}
    every = [list(c.words) for c in commands((ROOT / "README.md").read_text(), env)]
    (words,) = [words for words in every if " ".join(words).startswith(prefix)]
    return words


class TestReadme:
    def test_variable_keys_are_the_environment_variables_rod_reads(self) -> None:
        words = command("nomad var put nomad/jobs/rod")
        keys = [word.split("=", 1)[0] for word in words[4:]]
        assert keys == ["GITHUB_WEBHOOK_SECRET", "GITHUB_TOKEN", "NOMAD_TOKEN"]

    def test_acl_commands_name_the_shipped_policies(self) -> None:
        rod = command("nomad acl policy apply -description")
        assert rod[-2:] == ["rod", "deploy/nomad/rod-policy.hcl"]
        runner = command("nomad acl policy apply -namespace")
        assert runner[4:12] == ["-namespace", "default", "-job", "github-runner", "-group",
                                "runner", "-task", "runner"]  # fmt: skip
        assert runner[-2:] == ["github-runner", "deploy/nomad/github-runner-policy.hcl"]
        token = command("nomad acl token create")
        assert token[token.index("-policy") + 1] == "rod"
        assert token[token.index("-type") + 1] == "client"
        for words in (rod, runner):
            assert (ROOT / words[-1]).is_file()

    def test_the_image_is_given_on_the_command_line(self) -> None:
        words = command("nomad job run -var image=")
        assert words[-1] == "deploy/nomad/rod.nomad.hcl"


@pytest.fixture
def nomad() -> Iterator[tuple[NomadEmulator, httpx.Client, list[dict[str, Any]]]]:
    """The emulator, ACLs on; each start of the `rod` task records its environment and files."""
    started: list[dict[str, Any]] = []
    lock = threading.Lock()

    def rod_task(ctx: TaskContext) -> int:
        secrets = Path(ctx.env["NOMAD_SECRETS_DIR"])
        files = {p.name: p.read_text() for p in secrets.iterdir() if p.is_file()}
        toml = (Path(ctx.env["NOMAD_TASK_DIR"]) / "rod.toml").read_text()
        with lock:
            started.append({"env": dict(ctx.env), "files": files, "toml": toml})
        ctx.stop_requested.wait(30)
        return 0

    driver = InProcessDriver({"rod": rod_task})
    emulator = NomadEmulator(driver=driver, acl_token=ADMIN["X-Nomad-Token"]).start()
    try:
        with httpx.Client(base_url=emulator.url, headers=ADMIN, timeout=10) as client:
            yield emulator, client, started
    finally:
        emulator.stop()


def run_rod_job(client: httpx.Client, items: dict[str, str]) -> None:
    """`nomad var put nomad/jobs/rod ...` then `nomad job run -var image=... rod.nomad.hcl`."""
    assert client.put("/v1/var/nomad/jobs/rod", json={"Items": items}).status_code == 200
    body = {"JobHCL": ROD_SPEC, "Variables": 'image = "example/rod:1"', "Canonicalize": True}
    parsed = client.post("/v1/jobs/parse", json=body)
    assert parsed.status_code == 200, parsed.text
    assert client.post("/v1/jobs", json={"Job": parsed.json()}).status_code == 200


def settings_of(start: dict[str, Any]) -> Settings:
    """What `rod serve --config $NOMAD_TASK_DIR/rod.toml` loads from that environment."""
    return load_settings(start["env"], start["toml"], read_file=read_text)


def wait_for_starts(started: list[dict[str, Any]], count: int) -> None:
    wait_for(f"{count} rod tasks to start", lambda: len(started), lambda n: n >= count, timeout=10)


class TestRodJob:
    def test_without_an_image_nomad_refuses_the_job(self, nomad: Any) -> None:
        _, client, _ = nomad
        parsed = client.post("/v1/jobs/parse", json={"JobHCL": ROD_SPEC})
        assert (parsed.status_code, parsed.text) == (
            400,
            'Failed to parse job: Unset variable "image"',
        )

    def test_token_mode_env_comes_from_the_readme_keys_intact(self, nomad: Any) -> None:
        _, client, started = nomad
        keys = [w.split("=", 1)[0] for w in command("nomad var put nomad/jobs/rod")[4:]]
        values = {"GITHUB_WEBHOOK_SECRET": AWKWARD, "GITHUB_TOKEN": "ghp_#x", "NOMAD_TOKEN": "n'1"}
        run_rod_job(client, {key: values[key] for key in keys})
        wait_for_starts(started, 2)  # count = 2
        settings = settings_of(started[0])
        assert settings.webhook_secret == AWKWARD
        assert (settings.github_token, settings.nomad_token) == ("ghp_#x", "n'1")
        assert settings.nomad_addr == "http://127.0.0.1:4646"  # ${attr.unique.network.ip-address}
        assert settings.github_auth == "token"
        assert not set(TLS) & set(started[0]["env"])  # no item, no variable (the file is empty)

    def test_app_mode_key_is_a_file_for_the_images_user(self, nomad: Any) -> None:
        _, client, started = nomad
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        ).decode()
        run_rod_job(
            client,
            {"GITHUB_WEBHOOK_SECRET": "w", "GITHUB_APP_ID": "123", "GITHUB_APP_PRIVATE_KEY": pem},
        )
        wait_for_starts(started, 1)
        settings = settings_of(started[0])
        assert settings.github_auth == "app" and settings.github_app_private_key == pem
        assert "GITHUB_APP_PRIVATE_KEY" not in started[0]["env"]  # the PEM is a file, not env

    def test_key_and_certificate_templates_are_owned_by_the_images_user(self, nomad: Any) -> None:
        _, client, _ = nomad
        body = {"JobHCL": ROD_SPEC, "Variables": 'image = "x"'}
        pem_templates_are_the_images_users(client.post("/v1/jobs/parse", json=body).json())

    def test_tls_to_nomad_from_files_the_variable_fills(self, nomad: Any) -> None:
        _, client, started = nomad
        run_rod_job(client, {"GITHUB_WEBHOOK_SECRET": "w", "GITHUB_TOKEN": "t", **tls_items()})
        wait_for_starts(started, 1)
        assert_tls_files(started[0]["env"], settings_of(started[0]))

    def test_a_rotation_window_from_the_variable_and_in_no_job_field(self, nomad: Any) -> None:
        # README "Rotating the webhook secret": the old secret stays in the Variable a while.
        _, client, started = nomad
        items = {"GITHUB_WEBHOOK_SECRET": "new-" + AWKWARD, "GITHUB_TOKEN": "t"}
        run_rod_job(client, {**items, "GITHUB_WEBHOOK_SECRET_PREVIOUS": AWKWARD})
        wait_for_starts(started, 1)
        settings = settings_of(started[0])
        assert (settings.webhook_secret, settings.webhook_secret_previous) == (
            "new-" + AWKWARD,
            AWKWARD,
        )
        job = client.get("/v1/job/rod")
        assert job.status_code == 200 and "cr'et" not in job.text  # in both secrets
