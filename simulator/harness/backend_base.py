"""What every backend shares: where the parts answer, the Backend protocol, and two helpers.

A backend starts (or finds) GitHub, Nomad and the dispatcher and says where they are; the Stack
does the rest through the public APIs, so every backend is exercised the same way. The backends
themselves are listed once, in backends.py.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from simulator.harness.dispatcher import wait_idle
from simulator.harness.github_client import GitHubControl
from simulator.harness.nomad_client import NomadControl


@dataclass(frozen=True)
class Endpoints:
    """Where the parts answer, and the credentials the suite uses with them."""

    github_url: str
    github_token: str
    nomad_url: str
    nomad_token: str | None
    dispatcher_url: str
    webhook_secret: str
    # The webhook is made by running README "Deploying" step 3 (the deployed backend).
    readme_webhook: bool = False
    # The secret the webhook secret is rotated to (the reliability stack's rotation feature).
    next_webhook_secret: str = ""

    @property
    def webhook_url(self) -> str:
        """Where GitHub delivers `workflow_job` webhooks."""
        return f"{self.dispatcher_url}/webhook"


class Backend(Protocol):
    """Starts the system under test and brings it back to an empty state between scenarios."""

    name: str
    # True when the harness registers deploy/nomad/github-runner.nomad.hcl itself after reset().
    registers_runner_job: bool

    def start(self) -> Endpoints:
        """Start or locate every part; raise BackendUnavailable when that cannot work here."""
        ...

    def reset(self) -> None:
        """Forget every repository, run, runner, hook, job and allocation."""
        ...

    def stop(self) -> None:
        """Stop whatever start() started."""
        ...

    def diagnostics(self) -> str:
        """One line about the parts' health, for failure messages."""
        ...


class EmulatorServer(Protocol):
    """What the harness needs of an emulator: start, its URL, stop."""

    @property
    def url(self) -> str: ...

    def start(self) -> EmulatorServer: ...

    def stop(self) -> None: ...


# Environment variables that point the suite at a deployment (`-D backend=external`).
EXTERNAL_VARIABLES = {
    "dispatcher_url": "ROD_DISPATCHER_URL",
    "webhook_secret": "GITHUB_WEBHOOK_SECRET",
    "github_url": "GITHUB_API_URL",
    "github_token": "GITHUB_TOKEN",
    "nomad_url": "NOMAD_ADDR",
}


def serve_env(
    *, webhook_secret: str, github_token: str, github_url: str, nomad_url: str
) -> dict[str, str]:
    """`rod serve`'s environment for a GitHub and a Nomad (the variables of EXTERNAL_VARIABLES)."""
    values = {
        "webhook_secret": webhook_secret,
        "github_token": github_token,
        "github_url": github_url,
        "nomad_url": nomad_url,
    }
    return {EXTERNAL_VARIABLES[key]: value for key, value in values.items()}


def settle(
    *,
    empty_nomad: Callable[[], object],
    github_url: str,
    dispatcher_url: str | Sequence[str],
    timeout: float,
) -> None:
    """Empty GitHub and Nomad so that nothing from the last scenario leaks into the next.

    A late delivery or dispatch must not show up in the next scenario's counts: stop every
    runner, let GitHub finish its deliveries and the dispatcher its dispatches, then empty Nomad
    again and reset GitHub.
    """
    empty_nomad()
    github = GitHubControl(github_url)
    try:
        github.flush_deliveries(timeout)
        for url in [dispatcher_url] if isinstance(dispatcher_url, str) else dispatcher_url:
            wait_idle(url, timeout)
        empty_nomad()
        github.reset()
    finally:
        github.close()


def reset_emulators(github_url: str, nomad_url: str, timeout: float) -> None:
    """With no dispatcher running: stop every runner, let GitHub's last deliveries fail fast,
    then empty both emulators (see `settle` for a dispatcher that keeps running)."""
    nomad, github = NomadControl(nomad_url), GitHubControl(github_url)
    try:
        nomad.reset()
        github.flush_deliveries(timeout)
        github.reset()
        nomad.reset()
    finally:
        github.close()
