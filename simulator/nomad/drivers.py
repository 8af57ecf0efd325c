"""Task drivers: a raw_exec-like process driver and an in-process driver for fast tests.

Concurrency model: every running task has one daemon watcher thread, which calls `on_exit` once
when the task ends. The backend's state is guarded by a lock, so `on_exit` may run on any thread.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

ExitCallback = Callable[[int, int, str], None]  # (exit code, signal, driver error or "")


@dataclass(frozen=True)
class TaskLaunch:
    """Everything a driver needs to start one task."""

    alloc_id: str
    task_name: str
    driver: str
    config: Mapping[str, object]
    env: Mapping[str, str]
    task_dir: str
    stdout_path: str
    stderr_path: str
    kill_signal: str = "SIGTERM"


class TaskHandle(Protocol):
    """A started task."""

    def stop(self, kill_timeout: float) -> None:
        """Ask the task to stop: its kill signal, then SIGKILL after `kill_timeout` seconds."""

    def kill(self) -> None:
        """End the task now (emulator reset and shutdown)."""


class Driver(Protocol):
    """Starts tasks; `on_exit` is called exactly once per started task."""

    def start(self, launch: TaskLaunch, on_exit: ExitCallback) -> TaskHandle:
        """Start the task, or raise DriverError."""


class DriverError(Exception):
    """The driver could not start the task (reported as a `Driver Failure` task event)."""


class ProcessHandle:
    """A child process in its own session, so a stop reaches its whole process group."""

    def __init__(self, proc: subprocess.Popen[bytes], kill_signal: str) -> None:
        self.proc = proc
        self.kill_signal = getattr(signal, kill_signal, signal.SIGTERM)
        self._killer: threading.Timer | None = None

    def _signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)

    def stop(self, kill_timeout: float) -> None:
        """Signal now; SIGKILL the group if it is still there after `kill_timeout`."""
        if self.proc.poll() is not None:
            return
        self._signal(self.kill_signal)
        self._killer = threading.Timer(kill_timeout, self._kill_if_alive)
        self._killer.daemon = True
        self._killer.start()

    def kill(self) -> None:
        """SIGKILL the process group at once."""
        if self.proc.poll() is None:
            self._signal(signal.SIGKILL)

    def _kill_if_alive(self) -> None:
        if self.proc.poll() is None:
            self._signal(signal.SIGKILL)

    def cancel_timer(self) -> None:
        """Forget a pending SIGKILL (the process is gone)."""
        if self._killer is not None:
            self._killer.cancel()


def command_line(launch: TaskLaunch) -> list[str]:
    """raw_exec runs `command` + `args`; docker runs `entrypoint` + `command` + `args` (the image's
    own ENTRYPOINT and CMD are unknown here, so one of the first two must be given)."""
    config, name, docker = launch.config, launch.task_name, launch.driver == "docker"
    entrypoint = (config.get("entrypoint") or []) if docker else []
    command = config.get("command") or ""
    args = config.get("args") or []
    if not (isinstance(entrypoint, list) and isinstance(command, str) and isinstance(args, list)):
        raise DriverError(f'task "{name}": config.command must be a string, the others lists')
    if not command and not entrypoint:
        wanted = "config.command or config.entrypoint" if docker else "config.command"
        raise DriverError(f'task "{name}": {wanted} is required')
    return [*map(str, entrypoint), *([command] if command else []), *map(str, args)]


class ProcessDriver:
    """raw_exec: run the task's command line (`command_line`) on the host, for any driver.

    A docker task's image is not run: its command runs on the host (see simulator/README.md).
    """

    def start(self, launch: TaskLaunch, on_exit: ExitCallback) -> TaskHandle:
        """Spawn the process with logs in alloc/logs and watch it from a thread."""
        argv = command_line(launch)
        with open(launch.stdout_path, "ab") as out, open(launch.stderr_path, "ab") as err:
            try:
                proc = subprocess.Popen(
                    argv,
                    cwd=launch.task_dir,
                    env=dict(launch.env),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    start_new_session=True,
                )
            except OSError as exc:
                raise DriverError(f"failed to launch command: {exc}") from exc
        handle = ProcessHandle(proc, launch.kill_signal)

        def watch() -> None:
            code = proc.wait()
            handle.cancel_timer()
            if code < 0:
                on_exit(0, -code, "")
            else:
                on_exit(code, 0, "")

        threading.Thread(target=watch, name=f"task:{launch.alloc_id[:8]}", daemon=True).start()
        return handle


@dataclass
class TaskContext:
    """What an in-process task function sees: its env, directories and a stop request."""

    launch: TaskLaunch
    stop_requested: threading.Event = field(default_factory=threading.Event)

    @property
    def env(self) -> Mapping[str, str]:
        """The task's environment (NOMAD_META_*, NOMAD_TASK_DIR, ...)."""
        return self.launch.env


TaskFunction = Callable[[TaskContext], int]


def completes_after(seconds: float, exit_code: int = 0) -> TaskFunction:
    """A task that exits with `exit_code` after `seconds`, or 0 at once when stopped."""

    def run(ctx: TaskContext) -> int:
        if ctx.stop_requested.wait(seconds):
            return 0
        return exit_code

    return run


class InProcessHandle:
    """A task function running in a thread."""

    def __init__(self, ctx: TaskContext) -> None:
        self.ctx = ctx

    def stop(self, kill_timeout: float) -> None:
        """Set the task's stop event; a function that ignores it runs to its end."""
        self.ctx.stop_requested.set()

    def kill(self) -> None:
        """Threads cannot be killed: the same as stop()."""
        self.ctx.stop_requested.set()


class InProcessDriver:
    """Runs a Python function per task (moto batch_simple-style); by default completes at once."""

    def __init__(
        self,
        tasks: Mapping[str, TaskFunction] | None = None,
        default: TaskFunction | None = None,
    ) -> None:
        self.tasks = dict(tasks or {})
        self.default = default or completes_after(0.0)

    def start(self, launch: TaskLaunch, on_exit: ExitCallback) -> TaskHandle:
        """Call the function for this task name (or the default) in a daemon thread."""
        function = self.tasks.get(launch.task_name, self.default)
        ctx = TaskContext(launch)

        def run() -> None:
            try:
                code = function(ctx)
            except Exception as exc:  # a failing task function is a failed task, not a crash
                with open(launch.stderr_path, "a", encoding="utf-8") as err:
                    err.write(f"{type(exc).__name__}: {exc}\n")
                code = 1
            on_exit(code, 0, "")

        threading.Thread(target=run, name=f"task:{launch.alloc_id[:8]}", daemon=True).start()
        return InProcessHandle(ctx)


def make_driver(name: str) -> Driver:
    """`process` or `inprocess`."""
    if name == "process":
        return ProcessDriver()
    if name == "inprocess":
        return InProcessDriver()
    raise ValueError(f"unknown driver {name!r}: use process or inprocess")
