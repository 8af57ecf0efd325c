"""`-D backend=deployed`: README "Deploying" carried out on the emulators, step by step.

A Nomad emulator with ACLs on (`nomad agent -acl-enabled`, then `POST /v1/acl/bootstrap`) and the
GitHub emulator; then the README's own commands (readme_deploy.py): step 1 applies both policy
files and makes rod's token, step 2 registers both job specs and puts the Variable
`nomad/jobs/rod`. `rod serve` runs only as the allocations of deploy/nomad/rod.nomad.hcl (two
instances, each on its dynamic port), its environment coming from the job's `env` and the
templates that render that Variable. An ingress (step 4) routes to service `rod`, and every
scenario's webhook is created with step 3's `curl`, through the Stack.

The job variables that change, beside the README's own `-var image=...` (no image is run): the
runner job's `runner_command`/`runner_args`/`cpu`/`memory` (as every backend sets them), and
rod's `entrypoint` (this checkout's `rod serve` for the image's), `nomad_addr` and
`github_api_url` (where the emulators listen).
"""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path
from typing import Any

import httpx

from simulator.github import GitHubEmulator
from simulator.harness.backend_base import Endpoints, settle
from simulator.harness.dispatcher import clean_environment, rod_command
from simulator.harness.errors import StackStartError
from simulator.harness.ingress import Ingress, instances
from simulator.harness.nomad_client import NomadApi, runner_variables
from simulator.harness.readme_deploy import Deployment, Translator, Where
from simulator.harness.settings import StackSettings
from simulator.harness.waiting import wait_for
from simulator.nomad import NomadEmulator

RUNNER_JOB = "deploy/nomad/github-runner.nomad.hcl"
ROD_JOB = "deploy/nomad/rod.nomad.hcl"
ROD_JOB_ID = "rod"  # job "rod", its service "rod" and its task "rod"


def rod_variables(nomad_url: str, github_url: str) -> dict[str, Any]:
    """rod.nomad.hcl's docker task pointed at this machine: `rod serve` from this checkout."""
    return {
        "entrypoint": [*rod_command(), "serve"],
        "nomad_addr": nomad_url,
        "github_api_url": github_url,
    }


def deployment_where(repo: str, github_url: str, nomad_url: str, dispatcher_url: str) -> Where:
    """What this deployment puts in place of the README's stand-ins."""
    return Where(
        github_url=github_url,
        repo=repo,
        webhook_url=f"{dispatcher_url}/webhook",
        job_variables={
            RUNNER_JOB: runner_variables(),
            ROD_JOB: rod_variables(nomad_url, github_url),
        },
    )


class DeployedBackend:
    """The emulators, deployed to as README "Deploying" says; `rod serve` as Nomad allocations."""

    name = "deployed"
    registers_runner_job = False  # README step 2 registers it; reset() keeps it

    def __init__(self, settings: StackSettings) -> None:
        self.settings = settings
        self.github_token = "ghp_" + secrets.token_hex(18)
        self.webhook_secret = secrets.token_hex(20)
        self._github: GitHubEmulator | None = None
        self._nomad: NomadEmulator | None = None
        self._ingress: Ingress | None = None
        self.management = ""  # the bootstrap token: what the operator deploys with
        self.deployment: Deployment | None = None

    def start(self) -> Endpoints:
        """Emulators, README steps 1 and 2, the ingress; ready once every instance is."""
        github = self._github = GitHubEmulator(tokens=[self.github_token]).start()
        # A task inherits the agent's environment (raw_exec): none of this process's settings.
        nomad = self._nomad = NomadEmulator(
            driver="process", acl_enabled=True, base_env=clean_environment({})
        ).start()
        bootstrap = httpx.post(f"{nomad.url}/v1/acl/bootstrap", timeout=10)
        bootstrap.raise_for_status()
        self.management = bootstrap.json()["SecretID"]
        ingress = self._ingress = Ingress(nomad.url, self.management, ROD_JOB_ID).start()
        where = deployment_where(self.settings.repo, github.url, nomad.url, ingress.url)
        self.deployment = Deployment(
            Translator(where, nomad.url, self.management),
            {"GITHUB_WEBHOOK_SECRET": self.webhook_secret, "GITHUB_TOKEN": self.github_token},
        )
        self.deployment.run(1, 2)
        self._wait_ready()
        return Endpoints(
            github_url=github.url,
            github_token=self.github_token,
            nomad_url=nomad.url,
            nomad_token=self.management,
            dispatcher_url=ingress.url,
            webhook_secret=self.webhook_secret,
            readme_webhook=True,
        )

    def _nomad_api(self) -> NomadApi:
        assert self._nomad is not None, "the deployed backend is not started"
        return NomadApi(self._nomad.url, self.management)

    def instances(self) -> list[str]:
        """Where each `rod serve` instance listens, as Nomad service `rod` registers it."""
        assert self._nomad is not None, "the deployed backend is not started"
        return instances(self._nomad.url, self.management, ROD_JOB_ID)

    def rendered_config(self) -> Path:
        """The rod.toml a running rod allocation rendered from the job's `config_toml`."""
        assert self._nomad is not None, "the deployed backend is not started"
        running = [
            a["ID"] for a in self._nomad_api().list_allocations(ROD_JOB_ID)
            if a["ClientStatus"] == "running"
        ]  # fmt: skip
        assert running, f"no rod allocation is running; {self.diagnostics()}"
        path = Path(self._nomad.backend.alloc_dir(running[0])) / ROD_JOB_ID / "local/rod.toml"
        assert path.is_file(), f"{path} was not rendered"
        return path

    def _wait_ready(self) -> None:
        """Every instance of the rod job registered and answering /readyz 200."""
        (group,) = self._nomad_api().get_job(ROD_JOB_ID)["TaskGroups"]

        def ready() -> list[int]:
            failed = [
                a for a in self._nomad_api().list_allocations(ROD_JOB_ID)
                if a["ClientStatus"] in ("failed", "complete")
            ]  # fmt: skip
            if failed:
                raise StackStartError(f"a rod allocation ended; {self.diagnostics()}")
            urls = self.instances()
            return [httpx.get(f"{url}/readyz", timeout=5).status_code for url in urls]

        wait_for(
            f"{group['Count']} rod serve allocations to be ready",
            ready,
            lambda codes: codes == [200] * group["Count"],
            timeout=max(self.settings.timeout, 60.0),
            interval=0.2,
            transient=(httpx.TransportError,),
            describe=lambda codes: f"/readyz answers {codes}; {self.diagnostics()}",
        )

    def reset(self) -> None:
        """Purge the runner job's children, let every instance finish, reset GitHub."""
        assert self._github is not None, "reset() before start()"
        nomad = self._nomad_api()
        settle(
            empty_nomad=lambda: nomad.purge_children(self.settings.runner_job),
            github_url=self._github.url,
            dispatcher_url=self.instances(),
            timeout=self.settings.timeout,
        )

    def stop(self) -> None:
        """Stop the rod job (its instances drain on SIGTERM), keep their logs, stop the rest."""
        try:
            if self._nomad is not None and self.management:
                try:
                    self._stop_rod_job()
                finally:
                    self._save_logs()
        finally:
            for server in (self._ingress, self._nomad, self._github):
                if server is not None:
                    server.stop()
            self._ingress = self._nomad = self._github = None

    def _stop_rod_job(self) -> None:
        nomad = self._nomad_api()
        nomad.client.job.deregister_job(ROD_JOB_ID)
        wait_for(
            "the rod allocations to stop",
            lambda: [a["ClientStatus"] for a in nomad.list_allocations(ROD_JOB_ID)],
            lambda states: all(s in ("complete", "failed") for s in states),
            timeout=40.0,  # rod.nomad.hcl kill_timeout (30 s), then SIGKILL
            interval=0.2,
        )

    def _logs(self) -> list[tuple[int, Path]]:
        """Each rod allocation's stderr log (rod logs there), by allocation index."""
        assert self._nomad is not None
        found = []
        for alloc in self._nomad_api().list_allocations(ROD_JOB_ID):
            index = int(alloc["Name"].rsplit("[", 1)[1].rstrip("]"))
            path = Path(self._nomad.backend.alloc_dir(alloc["ID"])) / "alloc/logs/rod.stderr.0"
            found.append((index, path))
        return sorted(found)

    def _save_logs(self) -> None:
        """build/acceptance/rod-serve-deployed-N.log, before the emulator deletes alloc dirs."""
        self.settings.log_dir.mkdir(parents=True, exist_ok=True)
        for index, path in self._logs():
            if path.exists():
                shutil.copyfile(path, self.settings.log_dir / f"rod-serve-deployed-{index}.log")

    def diagnostics(self) -> str:
        """Each rod allocation's status and the last lines of its log."""
        if self._nomad is None:
            return "deployed backend not started"
        allocations = self._nomad_api().list_allocations(ROD_JOB_ID)
        states = sorted(a["ClientStatus"] for a in allocations)
        parts = []
        for index, path in self._logs():
            lines = path.read_text(errors="replace").strip().splitlines() if path.exists() else []
            parts.append(f"rod[{index}]: {' | '.join(lines[-5:]) or '(no log)'}")
        return f"rod allocations {states}; " + "; ".join(parts)
