"""The whole loop, started once: GitHub, Nomad, `rod serve`, the runner job and the webhook.

`Stack.start()` asks the backend for the parts, then sets the stage through the public APIs
only: it creates the repository, registers deploy/nomad/github-runner.nomad.hcl with the test
variables, and adds the `workflow_job` webhook pointing at the dispatcher. `reset()` empties both
services and sets the stage again, which is what isolates one scenario from the next.
"""

from __future__ import annotations

import os
from types import TracebackType
from typing import Any

from simulator.harness.backend_base import Backend, Endpoints
from simulator.harness.backends import backend_named
from simulator.harness.errors import StackStartError
from simulator.harness.github_client import GitHubApi, GitHubControl, ScriptedJob
from simulator.harness.intake import await_listener_ready
from simulator.harness.nomad_client import RUNNER_JOB_SPEC, NomadApi, runner_variables
from simulator.harness.observe import Observer
from simulator.harness.readme_deploy import readme_webhook
from simulator.harness.settings import StackSettings


class Stack:
    """One running system under test and the clients that look at it."""

    def __init__(self, settings: StackSettings, backend: Backend | None = None) -> None:
        self.settings = settings
        self.backend = backend or backend_named(settings, os.environ)
        self._endpoints: Endpoints | None = None
        self._github: GitHubApi | None = None
        self._control: GitHubControl | None = None
        self._nomad: NomadApi | None = None
        self._observer: Observer | None = None
        self.hook_id: int | None = None

    @property
    def endpoints(self) -> Endpoints:
        """Where everything answers; valid after start()."""
        if self._endpoints is None:
            raise StackStartError("the stack is not started")
        return self._endpoints

    @property
    def github(self) -> GitHubApi:
        """GitHub REST client with the suite's token."""
        assert self._github is not None, "the stack is not started"
        return self._github

    @property
    def control(self) -> GitHubControl:
        """The GitHub emulator's control plane."""
        assert self._control is not None, "the stack is not started"
        return self._control

    @property
    def nomad(self) -> NomadApi:
        """Nomad client (python-nomad)."""
        assert self._nomad is not None, "the stack is not started"
        return self._nomad

    @property
    def observer(self) -> Observer:
        """Snapshots of the repository and the runner job's children."""
        assert self._observer is not None, "the stack is not started"
        return self._observer

    @property
    def repo(self) -> str:
        """The repository the scenarios use (owner/name)."""
        return self.settings.repo

    @property
    def scope(self) -> str:
        """Where the webhook and the runners are: the repository (an org for `OrgStack`)."""
        return self.settings.repo

    def start(self) -> Stack:
        """Start the backend and set the stage; on any failure stop what was started."""
        try:
            endpoints = self._endpoints = self.backend.start()
            self._github = GitHubApi(endpoints.github_url, endpoints.github_token)
            self._control = GitHubControl(endpoints.github_url)
            self._nomad = NomadApi(endpoints.nomad_url, endpoints.nomad_token)
            self._observer = Observer(
                self._github,
                self._nomad,
                self.settings.repo,
                self.settings.runner_job,
                runners_at=self.scope,
            )
            self._set_stage()
        except BaseException:
            self.stop()
            raise
        return self

    def reset(self) -> None:
        """Empty GitHub and Nomad, then set the stage again (a fresh scenario)."""
        self.backend.reset()
        self.observer.ledger.clear()
        self._set_stage()

    def _set_stage(self) -> None:
        """Repository, runner job, webhook (or scale set): what an operator sets up once."""
        if self.settings.intake != "listen":  # else the emulator keeps it (sim_backend.py)
            self.control.create_repo(self.settings.repo)
        self.register_runner_job()
        if self.settings.intake == "listen":  # no hook: the listener polls its scale set
            endpoints = self.endpoints
            await_listener_ready(
                endpoints.github_url, self.repo, endpoints.dispatcher_url, self.settings.timeout
            )
            return
        if self.endpoints.readme_webhook:
            hook = readme_webhook(self.endpoints, self.settings.repo)
        else:
            hook = self.github.create_hook(
                self.settings.repo, self.endpoints.webhook_url, self.endpoints.webhook_secret
            )
        self.hook_id = int(hook["id"])

    def register_runner_job(self) -> None:
        """Register deploy/nomad/github-runner.nomad.hcl, unless the backend does it itself."""
        if self.backend.registers_runner_job:
            job_id = self.nomad.register_spec(RUNNER_JOB_SPEC, runner_variables())
            if job_id != self.settings.runner_job:
                raise StackStartError(f"{RUNNER_JOB_SPEC.name} registers {job_id!r}")

    def start_run(
        self, jobs: list[ScriptedJob], *, event: str = "pull_request", repo: str | None = None
    ) -> dict[str, Any]:
        """Trigger a workflow run on the repository (e.g. a pull request is opened)."""
        return self.control.start_run(repo or self.settings.repo, jobs, event=event)

    def stop(self) -> None:
        """Close the clients and stop the backend's parts."""
        for client in (self._github, self._control):
            if client is not None:
                client.close()
        self._github = self._control = None
        self.backend.stop()

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
