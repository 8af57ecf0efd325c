"""`-D backend=sim` (the default): both emulators in this process and `rod serve` as a child.

With `-D intake=listen` the child is `rod listen` instead (simulator/harness/intake.py).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from simulator.github import GitHubEmulator
from simulator.harness.backend_base import (
    EmulatorServer,
    Endpoints,
    serve_env,
    settle,
)
from simulator.harness.dispatcher import DispatcherProcess, wait_idle
from simulator.harness.github_client import GitHubControl
from simulator.harness.intake import hold_polls_briefly, listener_process
from simulator.harness.nomad_client import NomadControl, register_runner_job
from simulator.harness.settings import StackSettings
from simulator.nomad import NomadEmulator


class SimBackend:
    """Both emulators in this process (uvicorn threads) and `rod serve` as a child process."""

    name = "sim"
    registers_runner_job = True
    log_suffix = ""  # rod-serve<suffix>.log in the log directory

    def __init__(self, settings: StackSettings, *, serve_args: Sequence[str] = ()) -> None:
        self.settings = settings
        self.serve_args = tuple(serve_args)  # extra `rod serve` options, e.g. --config
        self.github_token = "ghp_" + secrets.token_hex(18)
        self.webhook_secret = secrets.token_hex(20)
        self._github: EmulatorServer | None = None
        self._nomad: EmulatorServer | None = None
        self.dispatcher: DispatcherProcess | None = None

    def start(self) -> Endpoints:
        """GitHub emulator, Nomad emulator (process driver), then `rod serve` against them."""
        endpoints = self.start_emulators()
        assert self.dispatcher is not None
        register_runner_job(endpoints.nomad_url)  # else `rod serve`'s /readyz says 503
        self.dispatcher.start(timeout=self.settings.timeout)
        return endpoints

    def start_emulators(self) -> Endpoints:
        """Both emulators, and `rod serve` ready to start on its port (not started)."""
        listen = self.settings.intake == "listen"
        # The listener's repository outlives resets: a 404 of it stops `rod listen` (exit 2).
        repos = [self.settings.repo] if listen else []
        self._github = GitHubEmulator(tokens=[self.github_token], repos=repos).start()
        self._nomad = NomadEmulator(driver="process").start()
        if listen:
            hold_polls_briefly(self._github.url)
            self.dispatcher = listener_process(
                self.settings,
                github_url=self._github.url,
                github_token=self.github_token,
                nomad_url=self._nomad.url,
            )
        else:
            env = serve_env(
                webhook_secret=self.webhook_secret,
                github_token=self.github_token,
                github_url=self._github.url,
                nomad_url=self._nomad.url,
            )
            log = self.settings.log_dir / f"rod-serve{self.log_suffix}.log"
            self.dispatcher = DispatcherProcess(env, log, args=self.serve_args)
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
        if self.dispatcher.command == "listen":
            self._reset_under_listener(self.dispatcher)
            return
        settle(
            empty_nomad=NomadControl(self._nomad.url).reset,
            github_url=self._github.url,
            dispatcher_url=self.dispatcher.url,
            timeout=self.settings.timeout,
        )

    def _reset_under_listener(self, listener: DispatcherProcess) -> None:
        """GitHub first: the scale set, its jobs and every runner credential go, so the listener
        can make no runner for the last scenario any more; once it has dispatched what it had
        made, Nomad. The listener sets up a new scale set by itself when the repository is back.
        """
        assert self._github is not None and self._nomad is not None
        github = GitHubControl(self._github.url)
        try:
            github.reset()
        finally:
            github.close()
        hold_polls_briefly(self._github.url)
        wait_idle(listener.url, self.settings.timeout)
        NomadControl(self._nomad.url).reset()

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
        return f"rod {self.dispatcher.command} {state}; log: {self.dispatcher.log_tail(5)}"
