"""deploy/nomad/listen.nomad.hcl on the Nomad emulator, down to the settings `rod listen` loads."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from runners_on_demand.config import load_settings
from runners_on_demand.decision import Policy
from runners_on_demand.listen.settings import listen_problems
from simulator.harness.waiting import wait_for
from simulator.nomad import NomadEmulator
from simulator.nomad.drivers import InProcessDriver, TaskContext
from tests.deploy.specs import (
    DEPLOY,
    ROOT,
    assert_tls_files,
    dockerfile_entrypoint,
    job_body,
    load,
    pem_templates_are_the_images_users,
    read_text,
    tls_items,
)

SPEC = (DEPLOY / "listen.nomad.hcl").read_text()
ADMIN = {"X-Nomad-Token": "management"}
CONFIG = """\
[listen]
url = "https://ghes.example/acme"
labels = ["self-hosted", "linux"]
max_runners = 4
installation_id = 77
"""
VARIABLES = f'image = "example/rod:1"\nconfig_toml = <<EOT\n{CONFIG}EOT\n'


@pytest.fixture
def nomad() -> Iterator[tuple[httpx.Client, list[dict[str, Any]]]]:
    """The emulator with ACLs; each start of the `listen` task records its environment and files."""
    started: list[dict[str, Any]] = []
    lock = threading.Lock()

    def listen_task(ctx: TaskContext) -> int:
        toml = (Path(ctx.env["NOMAD_TASK_DIR"]) / "rod.toml").read_text()
        with lock:
            started.append({"env": dict(ctx.env), "toml": toml})
        ctx.stop_requested.wait(30)
        return 0

    emulator = NomadEmulator(
        driver=InProcessDriver({"listen": listen_task}), acl_token="management"
    )
    with emulator, httpx.Client(base_url=emulator.url, headers=ADMIN, timeout=10) as client:
        yield client, started


def parse(client: httpx.Client, variables: str) -> httpx.Response:
    return client.post("/v1/jobs/parse", json={"JobHCL": SPEC, "Variables": variables})


class TestListenJob:
    spec = load("listen.nomad.hcl")
    name, job = job_body(spec)
    group = job["group"][0]["listener"]

    def test_one_listener_and_no_port_but_its_health(self) -> None:
        assert self.job["type"] == "service" and self.group["count"] == 1
        (network,) = self.group["network"]
        assert list(network["port"][0]) == ["health"]
        (service,) = self.group["service"]
        assert {check["path"] for check in service["check"]} == {"/healthz", "/readyz"}

    def test_the_config_and_the_image_are_required(
        self, nomad: tuple[httpx.Client, list[dict[str, Any]]]
    ) -> None:
        client, _ = nomad
        refused = parse(client, 'image = "x"')
        assert (refused.status_code, refused.text) == (
            400,
            'Failed to parse job: Unset variable "config_toml"',
        )

    def test_the_task_loads_the_settings_rod_listen_needs(
        self, nomad: tuple[httpx.Client, list[dict[str, Any]]]
    ) -> None:
        client, started = nomad
        assert (
            client.put(
                "/v1/var/nomad/jobs/rod-listen",
                json={"Items": {"GITHUB_TOKEN": "ghp_#x", "NOMAD_TOKEN": "n'1"}},
            ).status_code
            == 200
        )
        parsed = parse(client, VARIABLES)
        assert parsed.status_code == 200, parsed.text
        (task,) = parsed.json()["TaskGroups"][0]["Tasks"]
        # Its own entrypoint, never empty: the image's program with `listen` for `serve`.
        assert task["Config"]["entrypoint"] == dockerfile_entrypoint("rod")[:1] == ["rod"]
        assert task["Config"]["args"][:3] == ["listen", "--config", "${NOMAD_TASK_DIR}/rod.toml"]
        assert client.post("/v1/jobs", json={"Job": parsed.json()}).status_code == 200
        wait_for("the listener to start", lambda: len(started), lambda n: n >= 1, timeout=10)
        settings = load_settings(started[0]["env"], started[0]["toml"], webhook=False)
        assert (settings.github_token, settings.nomad_token) == ("ghp_#x", "n'1")
        assert settings.nomad_addr == "http://127.0.0.1:4646"  # ${attr.unique.network.ip-address}
        listen = settings.listen
        assert (listen.url, listen.labels, listen.max_runners, listen.installation_id) == (
            "https://ghes.example/acme",
            ("self-hosted", "linux"),
            4,
            77,
        )
        assert listen_problems(listen, Policy()) == []
        assert settings.webhook_secret == ""

    def test_tls_to_nomad_and_the_pem_files_as_rod_serve_has_them(
        self, nomad: tuple[httpx.Client, list[dict[str, Any]]]
    ) -> None:
        client, started = nomad
        items = {"GITHUB_TOKEN": "t", "NOMAD_TOKEN": "n", **tls_items()}
        put = client.put("/v1/var/nomad/jobs/rod-listen", json={"Items": items})
        assert put.status_code == 200
        parsed = parse(client, VARIABLES + 'nomad_addr = "https://nomad.example:4646"\n')
        assert parsed.status_code == 200, parsed.text
        pem_templates_are_the_images_users(parsed.json())
        assert client.post("/v1/jobs", json={"Job": parsed.json()}).status_code == 200
        wait_for("the listener to start", lambda: len(started), lambda n: n >= 1, timeout=10)
        env = started[0]["env"]
        settings = load_settings(env, started[0]["toml"], webhook=False, read_file=read_text)
        assert settings.nomad_addr == "https://nomad.example:4646"
        assert_tls_files(env, settings)


class TestReadme:
    """README "Behind NAT: no public endpoint": its commands match this job and `rod listen`."""

    def commands(self) -> list[list[str]]:
        readme = (ROOT / "README.md").read_text()
        section = readme.split("## Behind NAT: no public endpoint", 1)[1].split("\n## ", 1)[0]
        blocks = re.findall(r"```sh\n(.*?)```", section, re.DOTALL)
        text = "\n".join(blocks).replace("\\\n", " ")
        return [line.split() for line in text.splitlines() if line.strip()]

    def test_the_variable_holds_what_rod_listen_reads(self) -> None:
        (put,) = [words for words in self.commands() if words[:3] == ["nomad", "var", "put"]]
        assert put[3] == "nomad/jobs/rod-listen"  # the path the job's templates read
        assert "nomad/jobs/rod-listen" in SPEC
        assert [word.split("=", 1)[0] for word in put[4:]] == ["GITHUB_TOKEN", "NOMAD_TOKEN"]

    def test_the_runner_job_is_registered_before_the_listener(self) -> None:
        runs = [words[-1] for words in self.commands() if words[:3] == ["nomad", "job", "run"]]
        assert runs == ["deploy/nomad/github-runner.nomad.hcl", "deploy/nomad/listen.nomad.hcl"]
        assert (ROOT / runs[0]).is_file()

    def test_the_job_run_names_this_spec_and_its_required_variables(self) -> None:
        (run,) = [words for words in self.commands() if words[:3] == ["nomad", "job", "run"]][1:]
        assert run[-1] == "deploy/nomad/listen.nomad.hcl"
        given = {run[i + 1].split("=", 1)[0] for i, word in enumerate(run) if word == "-var"}
        assert given == {"image", "config_toml"}
