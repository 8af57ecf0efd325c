"""The organization stack: an org with an org webhook, a runner group, and `rod serve` making org
runners in that group (`-D backend=sim` only; the feature features/organizations.feature).

The org octo-corp has the private repositories app, api and secret-sauce; its runner group
linux-runners allows app and api only. `rod serve` resolves the group when it starts, so it
starts after the stage is set, and again after every reset (GitHub never reuses a group id).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from simulator.harness.backend_base import Endpoints, reset_emulators
from simulator.harness.errors import BackendUnavailable
from simulator.harness.settings import StackSettings
from simulator.harness.sim_backend import SimBackend
from simulator.harness.stack import Stack

ORG = "octo-corp"
GROUP = "linux-runners"
ALLOWED = ("app", "api")  # the repositories the runner group allows
REFUSED = ("secret-sauce",)  # in the org, not in the group


def org_config(runner_job: str) -> str:
    """`rod serve --config`: one pool making org runners in GROUP (see config.py)."""
    return (
        f'organization = "{ORG}"\n\n[[pools]]\nname = "org"\nnomad_job = "{runner_job}"\n'
        f'labels = []\nrunner_group = "{GROUP}"\n'
    )


class OrgSimBackend(SimBackend):
    """Both emulators in this process; `rod serve` with the org config, started by the stage."""

    log_suffix = "-org"

    def __init__(self, settings: StackSettings) -> None:
        if settings.backend != "sim":
            raise BackendUnavailable(settings.backend, "the organization stack runs on sim only")
        config = settings.log_dir / "rod-org.toml"
        super().__init__(settings, serve_args=("--config", str(config)))
        self.config_path: Path = config

    def start(self) -> Endpoints:
        """The emulators and the config file; `rod serve` waits for `start_dispatcher()`."""
        self.config_path.parent.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(org_config(self.settings.runner_job), encoding="utf-8")
        return self.start_emulators()

    def start_dispatcher(self) -> None:
        """Start `rod serve` (once the runner group it names exists) and wait until ready."""
        assert self.dispatcher is not None, "start_dispatcher() before start()"
        self.dispatcher.start(timeout=self.settings.timeout)

    def reset(self) -> None:
        """Stop `rod serve`, then empty both emulators (nothing dispatches meanwhile)."""
        assert self._github is not None and self._nomad is not None, "reset() before start()"
        assert self.dispatcher is not None
        self.dispatcher.stop()
        reset_emulators(self._github.url, self._nomad.url, self.settings.timeout)


class OrgStack(Stack):
    """A Stack whose stage is the organization: repositories, runner group, org webhook."""

    def __init__(self, settings: StackSettings) -> None:
        self.org_backend = OrgSimBackend(settings)
        super().__init__(
            dataclasses.replace(settings, repo=f"{ORG}/{ALLOWED[0]}"), self.org_backend
        )
        self.group_id: int | None = None

    @property
    def scope(self) -> str:
        """The webhook and the runners are the organization's."""
        return ORG

    def _set_stage(self) -> None:
        """What an org's platform team sets up once, then `rod serve` and the org hook."""
        self.control.create_org(ORG)
        ids = {
            name: int(self.control.create_repo(f"{ORG}/{name}", private=True)["id"])
            for name in (*ALLOWED, *REFUSED)
        }
        group = self.github.create_runner_group(ORG, GROUP, [ids[name] for name in ALLOWED])
        self.group_id = int(group["id"])
        self.register_runner_job()
        self.org_backend.start_dispatcher()
        endpoints = self.endpoints
        hook = self.github.create_org_hook(ORG, endpoints.webhook_url, endpoints.webhook_secret)
        self.hook_id = int(hook["id"])
