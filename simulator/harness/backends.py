"""Where the system under test runs: `-D backend=sim` (embedded), `compose` or `external`.

A backend starts (or finds) GitHub, Nomad and the dispatcher and says where they are; the Stack
does the rest through the public APIs, so every backend is exercised the same way.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from simulator.github import GitHubEmulator
from simulator.harness.dispatcher import DispatcherProcess, wait_idle
from simulator.harness.errors import BackendUnavailable
from simulator.harness.github_client import GitHubControl
from simulator.harness.nomad_client import NomadApi, NomadControl
from simulator.harness.settings import StackSettings
from simulator.nomad import NomadEmulator


@dataclass(frozen=True)
class Endpoints:
    """Where the parts answer, and the credentials the suite uses with them."""

    github_url: str
    github_token: str
    nomad_url: str
    nomad_token: str | None
    dispatcher_url: str
    webhook_secret: str

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


class SimBackend:
    """Both emulators in this process (uvicorn threads) and `rod serve` as a child process."""

    name = "sim"
    registers_runner_job = True

    def __init__(self, settings: StackSettings, *, serve_args: Sequence[str] = ()) -> None:
        self.settings = settings
        self.serve_args = tuple(serve_args)  # extra `rod serve` options, e.g. --config
        self.github_token = "ghp_" + secrets.token_hex(18)
        self.webhook_secret = secrets.token_hex(20)
        self._github: _Server | None = None
        self._nomad: _Server | None = None
        self.dispatcher: DispatcherProcess | None = None

    def start(self) -> Endpoints:
        """GitHub emulator, Nomad emulator (process driver), then `rod serve` against them."""
        self._github = GitHubEmulator(tokens=[self.github_token]).start()
        self._nomad = NomadEmulator(driver="process").start()
        env = serve_env(
            webhook_secret=self.webhook_secret,
            github_token=self.github_token,
            github_url=self._github.url,
            nomad_url=self._nomad.url,
        )
        self.dispatcher = DispatcherProcess(
            env, self.settings.log_dir / "rod-serve.log", args=self.serve_args
        )
        self.dispatcher.start(timeout=self.settings.timeout)
        return Endpoints(
            github_url=self._github.url,
            github_token=self.github_token,
            nomad_url=self._nomad.url,
            nomad_token=None,
            dispatcher_url=self.dispatcher.url,
            webhook_secret=self.webhook_secret,
        )

    def reset(self) -> None:
        """`POST /_sim/reset` on both emulators, without letting the last scenario leak in."""
        assert self._github is not None and self._nomad is not None, "reset() before start()"
        assert self.dispatcher is not None
        settle(
            empty_nomad=NomadControl(self._nomad.url).reset,
            github_url=self._github.url,
            dispatcher_url=self.dispatcher.url,
            timeout=self.settings.timeout,
        )

    def stop(self) -> None:
        """Dispatcher first (it drains), then the emulators (the Nomad one kills its processes)."""
        if self.dispatcher is not None:
            self.dispatcher.stop()
        for server in (self._nomad, self._github):
            if server is not None:
                server.stop()
        self._github = self._nomad = self.dispatcher = None

    def diagnostics(self) -> str:
        """Whether `rod serve` still runs, and its last log lines."""
        if self.dispatcher is None:
            return "rod serve: not started"
        state = "running" if self.dispatcher.alive() else "EXITED"
        return f"rod serve {state}; log: {self.dispatcher.log_tail(5)}"


def settle(
    *, empty_nomad: Callable[[], object], github_url: str, dispatcher_url: str, timeout: float
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
        wait_idle(dispatcher_url, timeout)
        empty_nomad()
        github.reset()
    finally:
        github.close()


class _Server(Protocol):
    """What the harness needs of an emulator: start, its URL, stop."""

    @property
    def url(self) -> str: ...

    def start(self) -> _Server: ...

    def stop(self) -> None: ...


# Environment variables that point the suite at a deployment (`-D backend=external`).
EXTERNAL_VARIABLES = {
    "dispatcher_url": "ROD_DISPATCHER_URL",
    "webhook_secret": "GITHUB_WEBHOOK_SECRET",
    "github_url": "GITHUB_API_URL",
    "github_token": "GITHUB_TOKEN",
    "nomad_url": "NOMAD_ADDR",
}


class ExternalBackend:
    """A deployed dispatcher and Nomad, wired to a GitHub emulator whose control plane we drive.

    The scenarios start workflow runs through the emulator's `/_sim/` control plane, which real
    GitHub lacks, so GITHUB_API_URL must point at a `rod sim github` the dispatcher also uses.
    The runner job must be registered already; between scenarios its children are purged, so
    use a cluster (or namespace) dedicated to testing.
    """

    name = "external"
    registers_runner_job = False

    def __init__(self, settings: StackSettings, environ: Mapping[str, str]) -> None:
        self.settings = settings
        self.environ = environ

    def start(self) -> Endpoints:
        """Read the deployment's coordinates; refuse in one line if any is missing."""
        missing = [var for var in EXTERNAL_VARIABLES.values() if not self.environ.get(var)]
        if missing:
            raise BackendUnavailable(self.name, f"set {', '.join(missing)}")
        values = {key: self.environ[var] for key, var in EXTERNAL_VARIABLES.items()}
        return Endpoints(nomad_token=self.environ.get("NOMAD_TOKEN"), **values)

    def reset(self) -> None:
        """Purge the runner job's children on Nomad and reset the GitHub emulator."""
        environ = self.environ
        nomad = NomadApi(environ["NOMAD_ADDR"], environ.get("NOMAD_TOKEN"))
        settle(
            empty_nomad=lambda: nomad.purge_children(self.settings.runner_job),
            github_url=environ["GITHUB_API_URL"],
            dispatcher_url=environ["ROD_DISPATCHER_URL"],
            timeout=self.settings.timeout,
        )

    def stop(self) -> None:
        """Nothing was started."""

    def diagnostics(self) -> str:
        """Where the dispatcher is."""
        return f"external dispatcher at {self.environ.get('ROD_DISPATCHER_URL')}"


def backend_named(settings: StackSettings, environ: Mapping[str, str]) -> Backend:
    """The backend `settings.backend` names."""
    if settings.backend == "compose":
        from simulator.harness.compose_backend import ComposeBackend  # imports this module

        return ComposeBackend(settings)
    if settings.backend == "external":
        return ExternalBackend(settings, environ)
    return SimBackend(settings)
