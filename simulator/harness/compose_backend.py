"""`-D backend=compose`: a real Nomad dev agent under docker compose, where Docker exists.

The agent is docker-compose.yml's `nomad-runners` service (the Dockerfile's `nomad-agent` stage:
Nomad 1.11.2 plus this package). The GitHub emulator and `rod serve` run on the host as in the sim
backend. The runner job is deploy/nomad/github-runner.nomad.hcl, parsed by the real agent, with
one change: its docker task becomes a raw_exec task running the fake runner inside the agent's
container, where the docker driver is not available. The fake runner reaches the emulator on the
host through `host.docker.internal` (compose's `host-gateway`), so the emulator listens on every
interface and hands out that address in JIT configs.
"""

from __future__ import annotations

import copy
import secrets
from collections.abc import Mapping
from typing import Any

from simulator import compose
from simulator.compose import RUNNERS_PROFILE, RUNNERS_SERVICE, ComposeUnavailable, NomadAgent
from simulator.github import GitHubEmulator
from simulator.harness.backend_base import Endpoints, serve_env, settle
from simulator.harness.dispatcher import DispatcherProcess
from simulator.harness.errors import BackendUnavailable
from simulator.harness.nomad_client import RUNNER_JOB_SPEC, NomadApi
from simulator.harness.settings import StackSettings
from simulator.serving import free_port

# How the runner task starts the fake runner inside the agent's image (python:3.11-slim); raw_exec
# wants an absolute path for a binary on the node
# (https://developer.hashicorp.com/nomad/docs/drivers/raw_exec).
CONTAINER_RUNNER = {
    "runner_command": "/usr/local/bin/python",
    "runner_args": ["-m", "simulator.runner"],
    "cpu": 100,
    "memory": 128,
}
# The host as the agent's container sees it (docker-compose.yml `extra_hosts`).
HOST_FROM_CONTAINER = "host.docker.internal"
# Building the agent's image on first use takes a while.
AGENT_START_SECONDS = 600.0


def as_raw_exec(job: Mapping[str, Any]) -> dict[str, Any]:
    """The parsed runner job with every docker task running its command under raw_exec instead.

    raw_exec takes only `command` and `args`
    (https://developer.hashicorp.com/nomad/docs/drivers/raw_exec); everything else in the job
    (parameterized block, meta, payload file, restart policy, resources) stays as deployed.
    """
    changed = copy.deepcopy(dict(job))
    for group in changed.get("TaskGroups") or []:
        for task in group.get("Tasks") or []:
            if task.get("Driver") == "docker":
                config = task.get("Config") or {}
                task["Driver"] = "raw_exec"
                task["Config"] = {"command": config["command"], "args": config.get("args") or []}
    return changed


class ComposeBackend:
    """Real Nomad in a container; the GitHub emulator and `rod serve` on the host."""

    name = "compose"
    registers_runner_job = False  # start() registers the raw_exec variant; reset() keeps it

    def __init__(self, settings: StackSettings) -> None:
        self.settings = settings
        self.github_token = "ghp_" + secrets.token_hex(18)
        self.webhook_secret = secrets.token_hex(20)
        self._agent: NomadAgent | None = None
        self._github: GitHubEmulator | None = None
        self._github_url = ""  # on loopback, for the host side (the emulator listens everywhere)
        self.dispatcher: DispatcherProcess | None = None

    def start(self) -> Endpoints:
        """Agent (built and started by compose), GitHub emulator, runner job, `rod serve`."""
        problem = compose.docker_problem()
        if problem is not None:
            raise BackendUnavailable(self.name, problem)
        try:
            self._agent = compose.start_nomad(
                timeout=AGENT_START_SECONDS, service=RUNNERS_SERVICE, profiles=(RUNNERS_PROFILE,)
            )
        except ComposeUnavailable as exc:
            raise BackendUnavailable(self.name, str(exc)) from None
        port = free_port("0.0.0.0")
        # Every interface: the runners connect from the container through the bridge gateway.
        github = GitHubEmulator(host="0.0.0.0", port=port, tokens=[self.github_token])
        github.backend.base_url = f"http://{HOST_FROM_CONTAINER}:{port}"
        self._github = github.start()
        github_url = self._github_url = f"http://127.0.0.1:{port}"
        nomad = NomadApi(self._agent.addr)
        job = nomad.parse_job(RUNNER_JOB_SPEC.read_text(encoding="utf-8"), CONTAINER_RUNNER)
        nomad.register_job(as_raw_exec(job))
        env = serve_env(
            webhook_secret=self.webhook_secret,
            github_token=self.github_token,
            github_url=github_url,
            nomad_url=self._agent.addr,
        )
        self.dispatcher = DispatcherProcess(env, self.settings.log_dir / "rod-serve-compose.log")
        self.dispatcher.start(timeout=self.settings.timeout)
        return Endpoints(
            github_url=github_url,
            github_token=self.github_token,
            nomad_url=self._agent.addr,
            nomad_token=None,
            dispatcher_url=self.dispatcher.url,
            webhook_secret=self.webhook_secret,
        )

    def reset(self) -> None:
        """Purge the runner job's children on Nomad and reset the GitHub emulator."""
        assert self._agent is not None and self.dispatcher is not None, "reset() before start()"
        nomad = NomadApi(self._agent.addr)
        settle(
            empty_nomad=lambda: nomad.purge_children(self.settings.runner_job),
            github_url=self._github_url,
            dispatcher_url=self.dispatcher.url,
            timeout=self.settings.timeout,
        )

    def stop(self) -> None:
        """`rod serve` first (it drains), then the emulator, then the agent's container."""
        if self.dispatcher is not None:
            self.dispatcher.stop()
        if self._github is not None:
            self._github.stop()
        if self._agent is not None:
            self._agent.stop()
        self.dispatcher = self._github = self._agent = None

    def diagnostics(self) -> str:
        """Where the agent is, and whether `rod serve` still runs."""
        if self._agent is None or self.dispatcher is None:
            return "compose backend not started"
        state = "running" if self.dispatcher.alive() else "EXITED"
        return f"Nomad agent {self._agent.addr}; rod serve {state}: {self.dispatcher.log_tail(5)}"
