"""README "Deploying" is the source of truth: what the deployed backend does is what it says.

The backend runs the README's own commands (simulator/harness/readme_deploy.py). These tests
carry them out on the emulators, as the backend does, and compare what Nomad and GitHub then hold
with the README's words: Variable keys, file names, policies, token, job specs, hook JSON. The
only differences allowed are the stand-ins of `Where`; a README edit changes the deployment.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from simulator.github import GitHubEmulator
from simulator.harness.backend_base import Endpoints
from simulator.harness.deployed_backend import ROD_JOB, RUNNER_JOB, deployment_where
from simulator.harness.github_client import GitHubControl
from simulator.harness.readme_deploy import (
    README,
    Command,
    Deployment,
    ReadmeError,
    Translator,
    commands,
    readme_webhook,
    split_sh,
)
from simulator.harness.settings import REPO_ROOT
from simulator.nomad import NomadEmulator
from simulator.nomad.drivers import InProcessDriver, TaskContext

REPO = "octo-org/hello-world"
# Hex, as README step 3 advises: its curl puts the secret into the JSON as it is.
SECRETS = {"GITHUB_WEBHOOK_SECRET": "5eb63bbbe01eeed093cb22bb8f5acdc3", "GITHUB_TOKEN": "ghp_r"}
TEXT = README.read_text(encoding="utf-8")
# What a test deployment may add to `nomad job run`: host commands and where the emulators are.
HOST_VARIABLES = {
    RUNNER_JOB: {"runner_command", "runner_args", "cpu", "memory"},
    ROD_JOB: {"entrypoint", "nomad_addr", "github_api_url"},
}


class TestSplitSh:
    def test_quotes_variables_continuations_comments(self) -> None:
        text = (
            'nomad acl policy apply -description "a b" rod x.hcl  # why\n'
            "curl -X POST https://h/$A \\\n"
            '  -d \'{"s": "\'"$B"\'"}\'\n'
        )
        assert split_sh(text, {"A": "path", "B": "s e'c"}) == [
            ["nomad", "acl", "policy", "apply", "-description", "a b", "rod", "x.hcl"],
            ["curl", "-X", "POST", "https://h/path", "-d", '{"s": "s e\'c"}'],
        ]

    def test_a_variable_the_deployment_lacks_is_named(self) -> None:
        with pytest.raises(ReadmeError, match=r"the README uses \$NOPE"):
            split_sh('echo "$NOPE"', {})


def readme_commands() -> list[Command]:
    return commands(TEXT, SECRETS)


def words(prefix: str) -> tuple[str, ...]:
    """The one README command starting with these words."""
    (command,) = [c for c in readme_commands() if " ".join(c.words).startswith(prefix)]
    return command.words


def flag(command: tuple[str, ...], name: str) -> str:
    return command[command.index(name) + 1]


class TestTheReadmeTranslates:
    def test_every_command_has_a_translation(self) -> None:
        translator = Translator(deployment_where(REPO, "http://gh", "http://n", "http://d"), "", "")
        every = readme_commands()
        assert {c.step for c in every} == {1, 2, 3}
        secrets = {**SECRETS, "NOMAD_TOKEN": "t"}
        apis = [command for command in every if command.words[0] != "rod"]
        assert all(translator.call(command, secrets) for command in apis)
        ran = [translator.rod_arguments(command) for command in every if command not in apis]
        assert ran and all(words[:2] == ["hooks", "sync"] for words in ran)


@dataclass
class Deployed:
    """Nomad and GitHub after README steps 1 to 3, and the calls that got them there."""

    nomad: httpx.Client
    github: httpx.Client
    deployment: Deployment
    hook: dict[str, Any]
    webhook_url: str


@pytest.fixture(scope="module")
def deployed() -> Iterator[Deployed]:
    """README steps 1-3 on served emulators; the rod tasks only wait to be stopped."""

    def wait(ctx: TaskContext) -> int:
        ctx.stop_requested.wait(30)
        return 0

    nomad = NomadEmulator(driver=InProcessDriver({"rod": wait, "runner": wait}), acl_enabled=True)
    nomad.start()
    github = GitHubEmulator(tokens=[SECRETS["GITHUB_TOKEN"]]).start()
    try:
        management = httpx.post(f"{nomad.url}/v1/acl/bootstrap").json()["SecretID"]
        where = deployment_where(REPO, github.url, nomad.url, "http://ingress.test")
        deployment = Deployment(Translator(where, nomad.url, management), SECRETS)
        deployment.run(1, 2)
        control = GitHubControl(github.url)
        control.create_repo(REPO)
        control.close()
        endpoints = Endpoints(
            github_url=github.url,
            github_token=SECRETS["GITHUB_TOKEN"],
            nomad_url=nomad.url,
            nomad_token=None,
            dispatcher_url="http://ingress.test",
            webhook_secret=SECRETS["GITHUB_WEBHOOK_SECRET"],
        )
        hook = readme_webhook(endpoints, REPO)
        admin = {"X-Nomad-Token": management}
        token = {"Authorization": f"Bearer {SECRETS['GITHUB_TOKEN']}"}
        with (
            httpx.Client(base_url=nomad.url, headers=admin) as nomad_client,
            httpx.Client(base_url=github.url, headers=token) as github_client,
        ):
            yield Deployed(nomad_client, github_client, deployment, hook, endpoints.webhook_url)
    finally:
        github.stop()
        nomad.stop()


class TestStep1Policies:
    def test_the_policies_are_the_files_the_readme_names(self, deployed: Deployed) -> None:
        for prefix in ("nomad acl policy apply -description", "nomad acl policy apply -namespace"):
            command = words(prefix)
            name, path = command[-2:]
            policy = deployed.nomad.get(f"/v1/acl/policy/{name}").json()
            assert policy["Rules"] == (REPO_ROOT / path).read_text(encoding="utf-8")
            assert policy["Description"] == flag(command, "-description")

    def test_the_runner_policy_is_attached_to_the_runner_task(self, deployed: Deployed) -> None:
        command = words("nomad acl policy apply -namespace")
        policy = deployed.nomad.get(f"/v1/acl/policy/{command[-2]}").json()
        assert policy["JobACL"] == {
            "Namespace": flag(command, "-namespace"),
            "JobID": flag(command, "-job"),
            "Group": flag(command, "-group"),
            "Task": flag(command, "-task"),
        }

    def test_rods_token_holds_the_readmes_policy(self, deployed: Deployed) -> None:
        command = words("nomad acl token create")
        items = deployed.nomad.get("/v1/var/nomad/jobs/rod").json()["Items"]
        token = deployed.nomad.get(
            "/v1/acl/token/self", headers={"X-Nomad-Token": items["NOMAD_TOKEN"]}
        ).json()
        assert (token["Name"], token["Type"]) == (flag(command, "-name"), flag(command, "-type"))
        assert token["Policies"] == [flag(command, "-policy")]


class TestStep2JobsAndVariable:
    def test_the_variable_has_exactly_the_readmes_keys(self, deployed: Deployed) -> None:
        command = words("nomad var put")
        items = deployed.nomad.get(f"/v1/var/{command[3]}").json()["Items"]
        assert list(items) == [pair.split("=", 1)[0] for pair in command[4:]]
        assert items["GITHUB_WEBHOOK_SECRET"] == SECRETS["GITHUB_WEBHOOK_SECRET"]

    def test_both_job_files_are_registered(self, deployed: Deployed) -> None:
        files = [c.words[-1] for c in readme_commands() if c.words[:3] == ("nomad", "job", "run")]
        assert sorted(files) == sorted(HOST_VARIABLES)
        listed = {job["ID"] for job in deployed.nomad.get("/v1/jobs").json()}
        assert listed == {"github-runner", "rod"}

    def test_only_host_variables_are_added_to_the_readmes(self, deployed: Deployed) -> None:
        parses = [c for c, _ in deployed.deployment.done if c.url.endswith("/v1/jobs/parse")]
        assert len(parses) == 2
        for call in parses:
            path = call.command.words[-1]
            readme_vars = [flag(call.command.words, "-var")] if "-var" in call.command.words else []
            names = {line.split(" = ", 1)[0] for line in call.body["Variables"].splitlines()}
            readme_names = {pair.split("=", 1)[0] for pair in readme_vars}
            assert names == readme_names | HOST_VARIABLES[path]
            assert call.body["JobHCL"] == (REPO_ROOT / path).read_text(encoding="utf-8")

    def test_the_image_is_the_readmes(self, deployed: Deployed) -> None:
        image = flag(words("nomad job run -var"), "-var").split("=", 1)[1]
        (group,) = deployed.nomad.get("/v1/job/rod").json()["TaskGroups"]
        assert group["Tasks"][0]["Config"]["image"] == image


class TestStep3Webhook:
    def test_the_hook_is_the_one_rod_hooks_sync_makes(self, deployed: Deployed) -> None:
        (hook,) = deployed.github.get(f"/repos/{REPO}/hooks").json()  # the dry run made none
        assert hook["id"] == deployed.hook["id"]
        assert (hook["name"], hook["active"], hook["events"]) == ("web", True, ["workflow_job"])
        assert hook["config"]["url"] == deployed.webhook_url
        assert hook["config"]["content_type"] == "json"
        assert hook["config"]["secret"] == "********"

    def test_all_steps_ran_in_readme_order(self, deployed: Deployed) -> None:
        ran = [call.command for call, _ in deployed.deployment.done]
        assert ran == [c for c in readme_commands() if c.step in (1, 2)]


class TestAReadmeEditChangesTheDeployment:
    def test_a_key_rod_does_not_read_stops_the_deployment(self) -> None:
        edited = TEXT.replace("GITHUB_WEBHOOK_SECRET=...", "github_webhook_secret=...")
        where = deployment_where(REPO, "http://gh", "http://n", "http://d")
        sent: list[Any] = []

        def record(call: Any) -> httpx.Response:
            sent.append(call)
            return httpx.Response(200, json={"SecretID": "t"})

        deployment = Deployment(
            Translator(where, "http://n", "m"), SECRETS, readme=edited, send=record
        )
        with pytest.raises(ReadmeError, match=r"README step 2 puts github_webhook_secret=\.\.\."):
            deployment.run(1, 2)

    def test_step_3_runs_the_readmes_rod_hooks_sync_lines(self) -> None:
        edited = TEXT.replace("rod hooks sync OWNER", "rod hooks sync OWNER --prune")
        assert edited != TEXT
        where = deployment_where(REPO, "http://gh", "http://n", "http://d")
        translator = Translator(where, "http://n", "m")
        lines = [translator.rod_arguments(c) for c in commands(edited, SECRETS) if c.step == 3]
        owner, name = REPO.split("/")
        assert lines[-1] == [
            "hooks",
            "sync",
            owner,
            "--prune",
            "--url",
            "http://d/webhook",
            "--repo",
            name,
        ]
