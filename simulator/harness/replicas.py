"""The reliability stack: both emulators and `rod serve` replicas with a fast reconciler.

`-D backend=sim` only. Each replica reads a config file whose `[reconcile]` table ticks every
second (src/runners_on_demand/reconcile/settings.py), so a missed webhook or an idle runner is set
right within seconds. Between scenarios the replicas are restarted on their same ports: the
emulators forget everything, so whatever a replica remembers (repositories, runners first seen,
a reconcile tick in flight) must be forgotten too.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from simulator.github import GitHubEmulator
from simulator.harness.backend_base import Endpoints, reset_emulators, serve_env
from simulator.harness.dispatcher import DispatcherProcess, clean_environment
from simulator.harness.errors import BackendUnavailable
from simulator.harness.nomad_client import register_runner_job
from simulator.harness.settings import StackSettings
from simulator.harness.stack import Stack
from simulator.nomad import NomadEmulator

# Seconds. A tick a second; a new queued job is left to its webhook for 2 s; a runner gets 10 s
# to connect (the fake one needs well under one) and 2 s idle before it may be retired as surplus.
RECONCILE_INTERVAL = 1.0
DISPATCH_DELAY = 2.0
BOOT_TIMEOUT = 10.0
IDLE_GRACE = 2.0
SHUTDOWN_GRACE = 2.0


def reliable_config(repo: str) -> str:
    """The replicas' `rod serve --config` file (format: src/runners_on_demand/config.py)."""
    return (
        "[server]\n"
        f"shutdown_grace_seconds = {SHUTDOWN_GRACE}\n"
        "\n[reconcile]\n"
        f"interval_seconds = {RECONCILE_INTERVAL}\n"
        f"boot_timeout_seconds = {BOOT_TIMEOUT}\n"
        f"idle_grace_seconds = {IDLE_GRACE}\n"
        f"dispatch_delay_seconds = {DISPATCH_DELAY}\n"
        f'repos = ["{repo}"]\n'
    )


class ReplicatedSimBackend:
    """GitHub and Nomad emulators in this process, one `rod serve` child process per replica.

    `Endpoints.dispatcher_url` is the first replica (the Stack's hook points there). A scenario
    that needs more calls `add_replica()` and adds a hook for it; reset() stops the extra ones.
    """

    name = "sim"
    registers_runner_job = True

    def __init__(self, settings: StackSettings) -> None:
        if settings.backend != "sim":
            raise BackendUnavailable(settings.backend, "the reliability stack runs on sim only")
        self.settings = settings
        self._env: dict[str, str] = {}
        self.github_token = "ghp_" + secrets.token_hex(18)
        self.webhook_secret = secrets.token_hex(20)
        self.next_webhook_secret = secrets.token_hex(20)
        self._github: GitHubEmulator | None = None
        self._nomad: NomadEmulator | None = None
        self.replicas: list[DispatcherProcess] = []

    @property
    def config_path(self) -> Path:
        """Where the replicas' config file is written."""
        return self.settings.log_dir / "rod-reliable.toml"

    def start(self) -> Endpoints:
        """Emulators, the config file, then the first replica, ready."""
        github = self._github = GitHubEmulator(tokens=[self.github_token]).start()
        nomad = self._nomad = NomadEmulator(driver="process").start()
        self.config_path.parent.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(reliable_config(self.settings.repo), encoding="utf-8")
        self._env = serve_env(
            webhook_secret=self.webhook_secret,
            github_token=self.github_token,
            github_url=github.url,
            nomad_url=nomad.url,
        )
        register_runner_job(nomad.url)  # else `rod serve`'s /readyz says 503
        self.replicas = [self._replica(1)]
        self.replicas[0].start(self.settings.timeout)
        return Endpoints(
            github_url=github.url,
            github_token=self.github_token,
            nomad_url=nomad.url,
            nomad_token=None,
            dispatcher_url=self.replicas[0].url,
            webhook_secret=self.webhook_secret,
            next_webhook_secret=self.next_webhook_secret,
        )

    def _replica(self, number: int) -> DispatcherProcess:
        """Replica `number` (not started), on a free port, with its own log file."""
        return DispatcherProcess(
            self._env,
            self.settings.log_dir / f"rod-serve-replica-{number}.log",
            args=("--config", str(self.config_path)),
        )

    def add_replica(self) -> DispatcherProcess:
        """Start one more replica against the same GitHub and Nomad; it lasts until reset()."""
        assert self.replicas, "add_replica() before start()"
        replica = self._replica(len(self.replicas) + 1)
        self.replicas.append(replica.start(self.settings.timeout))
        return replica

    def restart_first(self, **variables: str) -> None:
        """Restart the first replica on its port with these variables over the stack's own
        (`reset()` starts it with the stack's own again)."""
        first = self.replicas[0]
        first.stop()
        first.env = clean_environment(self._env | variables)
        first.start(self.settings.timeout)

    def _stop_replicas(self) -> None:
        """Stop every replica at once (each drains for up to SHUTDOWN_GRACE seconds)."""
        with ThreadPoolExecutor(max(1, len(self.replicas))) as pool:
            list(pool.map(lambda replica: replica.stop(), self.replicas))

    def reset(self) -> None:
        """Stop the replicas, empty both emulators, start the first replica again (same port)."""
        assert self._github is not None and self._nomad is not None, "reset() before start()"
        self._stop_replicas()
        del self.replicas[1:]
        # With no replica listening, nothing dispatches (backend_base.reset_emulators).
        reset_emulators(self._github.url, self._nomad.url, self.settings.timeout)
        register_runner_job(self._nomad.url)
        self.replicas[0].env = clean_environment(self._env)
        self.replicas[0].start(self.settings.timeout)

    def stop(self) -> None:
        """Replicas first (they drain), then the emulators (the Nomad one kills its tasks)."""
        self._stop_replicas()
        for server in (self._nomad, self._github):
            if server is not None:
                server.stop()
        self._github = self._nomad = None
        self.replicas = []

    def diagnostics(self) -> str:
        """Whether each replica runs, and its last log lines."""
        if not self.replicas:
            return "rod serve replicas: not started"
        return "; ".join(
            f"replica {n} {'running' if r.alive() else 'EXITED'}: {r.log_tail(5)}"
            for n, r in enumerate(self.replicas, start=1)
        )


def reliable_stack(settings: StackSettings) -> Stack:
    """A Stack on the replicated backend (not started)."""
    return Stack(settings, backend=ReplicatedSimBackend(settings))


class StackOnDemand:
    """A stack started the first time a feature asks for it, then shared until `stop()`."""

    def __init__(self, make: Callable[[], Stack]) -> None:
        self._make = make
        self._stack: Stack | None = None

    def get(self) -> Stack:
        """The started stack (starting it now if no feature used it yet)."""
        if self._stack is None:
            self._stack = self._make().start()
        return self._stack

    def stop(self) -> None:
        """Stop the stack if it was ever started."""
        stack, self._stack = self._stack, None
        if stack is not None:
            stack.stop()
