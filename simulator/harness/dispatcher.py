"""`rod serve` (or `rod listen`) as a real child process, with a scrubbed environment and a log."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from simulator.harness.errors import StackStartError, WaitTimeout
from simulator.harness.waiting import wait_for
from simulator.serving import free_port

# Variables the dispatcher reads (docs/architecture.md, issue "Dispatcher"): the caller's own
# values must never leak into a test run, or it could talk to a real GitHub or Nomad.
SCRUBBED_PREFIXES = ("GITHUB_", "NOMAD_", "ROD_")
QUEUED_BY_LISTEN = "rod_listen_runners_queued_total"
RECONCILED = "rod_reconcile_actions_total"


def backlog(metrics_text: str) -> int:
    """Runners accepted for dispatch but not yet carried out, from `rod serve`'s /metrics.

    Accepted: `rod_webhooks_total{outcome="queued"}`, the reconciler's
    `rod_reconcile_actions_total{action="dispatch",result="queued"}` and `rod listen`'s
    `rod_listen_runners_queued_total`, every way into the pipeline's queue; carried out:
    `rod_dispatches_total` (any outcome). The queue-depth gauge alone misses work a worker holds.
    Below zero, the dispatcher carried out runners it never counted as accepted.
    """
    accepted = finished = 0.0
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            labels = sample.labels
            queued = labels.get("outcome") == "queued"
            reconciled = labels.get("action") == "dispatch" and labels.get("result") == "queued"
            if (
                (sample.name == "rod_webhooks_total" and queued)
                or (sample.name == RECONCILED and reconciled)
                or sample.name == QUEUED_BY_LISTEN
            ):
                accepted += sample.value
            elif sample.name == "rod_dispatches_total":
                finished += sample.value
    return int(accepted - finished)


def metric(metrics_text: str, name: str, **labels: str) -> float:
    """One series of a /metrics text, summed over the samples matching `labels`."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(metrics_text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


def wait_idle(
    dispatcher_url: str,
    timeout: float,
    record: Callable[[httpx.Response], httpx.Response] = lambda response: response,
) -> None:
    """Wait until the dispatcher has carried out every runner it accepted, and no other.

    `record` sees each answer of /metrics (a scenario's `Tape.record`, for the living docs).
    """
    wait_for(
        "the dispatcher to finish the dispatches it accepted",
        lambda: backlog(record(httpx.get(f"{dispatcher_url}/metrics", timeout=5)).text),
        lambda left: left == 0,
        timeout=timeout,
        describe=lambda left: (
            f"{left} dispatches in flight"
            if left > 0
            else f"{-left} more runners carried out than accepted"
        ),
    )


def rod_command() -> list[str]:
    """How to run `rod` with this interpreter: the venv's script, else the CLI module."""
    script = Path(sys.executable).with_name("rod")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from runners_on_demand.cli import main; main()"]


def clean_environment(extra: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without GitHub/Nomad/rod settings, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED_PREFIXES)}
    env.update(extra)
    return env


class DispatcherProcess:
    """One `rod serve` (or `rod listen`) on a free loopback port; `url` is valid after `start()`.

    `rod serve` is started when `/readyz` answers 200; `rod listen` when `/healthz` does (its
    readiness needs a session, which needs the repository the stage creates afterwards).
    """

    def __init__(
        self,
        env: Mapping[str, str],
        log_path: Path,
        *,
        host: str = "127.0.0.1",
        args: Sequence[str] = (),
        command: str = "serve",
    ) -> None:
        self.host = host
        self.args = tuple(args)  # extra options, e.g. ("--config", path)
        self.command = command
        self.probe = "/readyz" if command == "serve" else "/healthz"
        self.port = free_port(host)
        self.env = clean_environment(env)
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL, without a trailing slash."""
        return f"http://{self.host}:{self.port}"

    @property
    def webhook_url(self) -> str:
        """Where GitHub delivers webhooks."""
        return f"{self.url}/webhook"

    def start(self, timeout: float = 20.0) -> DispatcherProcess:
        """Start it and wait until its probe answers 200."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        command = [
            *rod_command(),
            self.command,
            *self.args,
            "--host",
            self.host,
            "--port",
            str(self.port),
        ]
        with self.log_path.open("ab") as log:  # a restart keeps the history
            self._process = subprocess.Popen(
                command, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        try:
            wait_for(
                f"rod {self.command} to be ready on {self.url}",
                self._ready_status,
                lambda status: status == 200,
                timeout=timeout,
                interval=0.1,
                transient=(httpx.TransportError,),
                describe=lambda status: f"{self.probe} answered {status}",
            )
        except (WaitTimeout, StackStartError) as exc:
            self.stop()
            raise StackStartError(f"{exc}; log tail: {self.log_tail()}") from None
        return self

    def _ready_status(self) -> int:
        if self._process is not None and self._process.poll() is not None:
            returncode = self._process.returncode
            raise StackStartError(f"rod {self.command} exited with status {returncode}")
        return httpx.get(f"{self.url}{self.probe}", timeout=2).status_code

    def alive(self) -> bool:
        """True while the process runs."""
        return self._process is not None and self._process.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        """The last lines the dispatcher wrote, joined with ' | '."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return " | ".join(text.strip().splitlines()[-lines:]) or "(empty log)"

    def kill(self) -> None:
        """SIGKILL without draining, as a crash would; `start()` runs it again on the same port."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (the dispatcher drains), then SIGKILL after `timeout`."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
