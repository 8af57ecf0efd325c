"""The Dockerfile and both compose files, checked without Docker (issue 11, bugs 4 and 6).

The rules: host ports distinct across every service of both files, each from its own variable;
secrets only as required variables (${VAR:?message}), never with a default; every service with
a restart policy and, unless it is a one-shot others wait for, a healthcheck; every build target
a stage of the Dockerfile, with the image tag scripts/docker_smoke.py builds; every profile and
service named in its file's header; the dispatcher's agent equipped for the docker driver.
"""

from __future__ import annotations

import re
from itertools import takewhile
from pathlib import Path
from typing import Any

import pytest
import yaml

from simulator import compose
from tests.scripts import load_script

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILES = ("docker-compose.yml", "docker-compose.dispatcher.yml")
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")
# `${NAME:-default}`, `${NAME:?message}` and friends (Compose interpolation).
VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")
# `ip:host:container`, the host part possibly a variable.
PORT = re.compile(r"([\d.]+):(\$\{[^}]+\}|\d+):(\d+)")
SECRET_NAME = re.compile(r"(SECRET|TOKEN|PASSWORD|PRIVATE_KEY)")


def load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / name).read_text(encoding="utf-8"))
    return document


def header(name: str) -> str:
    """The comment lines a file starts with."""
    lines = (ROOT / name).read_text(encoding="utf-8").splitlines()
    return "\n".join(takewhile(lambda line: line.startswith("#"), lines))


def services() -> list[tuple[str, str, dict[str, Any]]]:
    """(file, service name, definition) for every service of both files."""
    return [(f, name, spec) for f in COMPOSE_FILES for name, spec in load(f)["services"].items()]


def stages() -> set[str]:
    """The Dockerfile's named stages (`FROM ... AS name`)."""
    return set(re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)", DOCKERFILE, flags=re.MULTILINE | re.I))


class TestPorts:
    def published(self) -> list[tuple[str, str, str, str]]:
        """(file, service, variable, default host port) for every published port."""
        found = []
        for file, name, spec in services():
            for mapping in spec.get("ports") or []:
                ip, host, _ = PORT.fullmatch(mapping).groups()  # type: ignore[union-attr]
                assert ip == "127.0.0.1", f"{name}: {mapping} must bind loopback only"
                match = VARIABLE.fullmatch(host)
                assert match and match["op"] == ":-", f"{name}: {mapping}: host port ${{VAR:-n}}"
                found.append((file, name, match["name"], match["arg"]))
        return found

    def test_every_host_port_and_its_variable_are_distinct(self) -> None:
        published = self.published()
        assert len(published) == 4  # the three agents and rod
        for index in (2, 3):
            values = [entry[index] for entry in published]
            assert len(set(values)) == len(values), published

    def test_the_harness_sets_the_variable_the_file_uses(self) -> None:
        published = self.published()
        variables = {name: var for file, name, var, _ in published if file == "docker-compose.yml"}
        for service, variable in compose.PORT_VARIABLES.items():
            assert variables[service] == variable


class TestSecrets:
    def environment(self) -> list[tuple[str, str, str, str | None]]:
        """(file, service, key, value) of every environment entry (None: a bare name)."""
        return [
            (f, name, key, None if value is None else str(value))
            for f, name, spec in services()
            for key, value in (spec.get("environment") or {}).items()
        ]

    def test_secrets_are_required_variables_with_a_message(self) -> None:
        secrets = [entry for entry in self.environment() if SECRET_NAME.search(entry[2])]
        required = [entry for entry in secrets if entry[2] != "GITHUB_WEBHOOK_SECRET_PREVIOUS"]
        assert {key for _, _, key, _ in required} == {"GITHUB_WEBHOOK_SECRET", "GITHUB_TOKEN"}
        for f, name, key, value in required:
            match = VARIABLE.fullmatch(value)
            assert match and match["op"] == ":?" and match["arg"].strip(), f"{f} {name}.{key}"
            assert match["name"] == key

    def test_the_previous_webhook_secret_is_passed_on_only_when_set(self) -> None:
        # A bare name: from the shell, else unset in the container (compose-spec; compose-go
        # #654). `${VAR}` or `${VAR:-}` would make it "" when unset, which rod refuses at start.
        previous = [e for e in self.environment() if e[2] == "GITHUB_WEBHOOK_SECRET_PREVIOUS"]
        assert [(f, name, value) for f, name, _, value in previous] == [
            ("docker-compose.dispatcher.yml", "rod", None)
        ]

    def test_required_variables_only_where_every_service_needs_them(self) -> None:
        # Compose interpolates every service of a file before it applies profiles, so a `:?` in
        # docker-compose.yml would stop the acceptance suite's own `up`.
        text = yaml.safe_dump(load("docker-compose.yml"))
        assert [m["name"] for m in VARIABLE.finditer(text) if m["op"] in ("?", ":?")] == []


class TestHealthAndRestart:
    def one_shots(self) -> set[str]:
        """Services some other service waits to see exit 0 (service_completed_successfully)."""
        return {
            target
            for _, _, spec in services()
            for target, condition in (spec.get("depends_on") or {}).items()
            if condition.get("condition") == "service_completed_successfully"
        }

    @pytest.mark.parametrize(
        ("file", "name", "spec"), services(), ids=[f"{f}:{n}" for f, n, _ in services()]
    )
    def test_every_service_has_a_restart_policy_and_a_healthcheck(
        self, file: str, name: str, spec: dict[str, Any]
    ) -> None:
        assert spec.get("restart") in ("no", "always", "unless-stopped", "on-failure"), name
        if name in self.one_shots():
            assert spec["restart"] == "no"
        else:
            assert spec["healthcheck"]["test"][0] == "CMD", name

    def test_services_waited_for_as_healthy_have_a_healthcheck(self) -> None:
        for f in COMPOSE_FILES:
            declared = load(f)["services"]
            for spec in declared.values():
                for target, condition in (spec.get("depends_on") or {}).items():
                    if condition["condition"] == "service_healthy":
                        assert "healthcheck" in declared[target], f"{f}: {target}"


class TestBuilds:
    def test_every_build_target_is_a_stage_tagged_as_the_smoke_builds_it(self) -> None:
        smoke = load_script("docker_smoke")
        expected = {"nomad-agent": smoke.AGENT_IMAGE, "rod": smoke.ROD_IMAGE}
        built = {
            spec["build"]["target"]: spec["image"] for _, _, spec in services() if "build" in spec
        }
        assert built == expected
        assert set(built) <= stages()

    def test_the_python_base_is_pinned_by_tag_and_digest(self) -> None:
        bases = re.findall(r"^FROM\s+(\S+)", DOCKERFILE, flags=re.MULTILINE)
        assert re.fullmatch(r"python:3\.11-[\w.-]+@sha256:[0-9a-f]{64}", bases[0])
        assert all(base in stages() for base in bases[1:])

    def test_other_images_have_a_version_tag(self) -> None:
        copied = re.findall(r"COPY --from=(\S+)", DOCKERFILE)
        used = [spec["image"] for _, _, spec in services() if "build" not in spec]
        for image in [*copied, *used]:
            assert re.fullmatch(r"[\w./-]+:\d+\.\d+\.\d+(@sha256:[0-9a-f]{64})?", image), image

    def test_the_images_check_their_own_commands_at_build_time(self) -> None:
        stage = {
            name: body
            for name, body in re.findall(
                r"AS (\S+)\n(.*?)(?=^FROM|\Z)", DOCKERFILE, flags=re.S | re.M
            )
        }
        assert "RUN nomad version" in stage["nomad-agent"]
        assert "rod --version" in stage["base"]
        assert "RUN python -c 'import uvloop, httptools'" in stage["base"]  # the fast server

    def test_the_lock_file_is_used_when_present_and_extras_installed_whole(self) -> None:
        assert "COPY pyproject.toml README.md constraints.tx[t] ./" in DOCKERFILE
        assert 'if [ -f constraints.txt ]; then lock="-c constraints.txt"' in DOCKERFILE
        installs = re.findall(r"pip install [^\n]*", DOCKERFILE)
        assert installs == [
            "pip install $lock '.[sim]'",
            "pip install --no-deps --force-reinstall . && rm -rf /src && rod --version",
        ]


class TestHeaders:
    @pytest.mark.parametrize("file", COMPOSE_FILES)
    def test_every_profile_and_service_is_in_the_header(self, file: str) -> None:
        text = header(file)
        for name, spec in load(file)["services"].items():
            assert name in text, f"{file}: {name}"
            for profile in spec.get("profiles") or []:
                assert f"--profile {profile}" in text, f"{file}: {profile}"


class TestDispatcherAgent:
    """What Nomad's docker driver needs when the client itself runs in a container."""

    def test_socket_privileged_host_cgroups_and_a_same_path_data_dir(self) -> None:
        agent = load("docker-compose.dispatcher.yml")["services"]["nomad"]
        assert "/var/run/docker.sock:/var/run/docker.sock" in agent["volumes"]
        assert agent["privileged"] is True and agent["cgroup"] == "host"
        assert "user" not in agent  # root: it mounts each task's secrets dir
        data_dir = next(
            arg.split("=", 1)[1] for arg in agent["command"] if arg.startswith("-data-dir=")
        )
        # rshared: the tmpfs the client mounts on each task's secrets/ (the runner's credential)
        # must reach the host, whose engine bind-mounts that path into the task.
        assert f"{data_dir}:{data_dir}:rshared" in agent["volumes"]
        # Room for a runner's kill_timeout before compose kills the agent mid-clean-up.
        runner = (ROOT / "deploy" / "nomad" / "github-runner.nomad.hcl").read_text()
        kill = re.search(r'kill_timeout = "(\d+)s"', runner)
        assert kill is not None
        assert int(agent["stop_grace_period"].removesuffix("s")) > int(kill.group(1))

    def test_rod_starts_after_the_runner_job_is_registered(self) -> None:
        declared = load("docker-compose.dispatcher.yml")["services"]
        assert declared["runner-job"]["command"][-1] == "/deploy/github-runner.nomad.hcl"
        assert "./deploy/nomad:/deploy:ro" in declared["runner-job"]["volumes"]
        assert declared["rod"]["depends_on"]["runner-job"] == {
            "condition": "service_completed_successfully"
        }
