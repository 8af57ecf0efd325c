"""simulator.nomad.drivers: real child processes and in-process task functions."""

from __future__ import annotations

import os
import queue
import sys
from pathlib import Path

import pytest

from simulator.nomad.drivers import (
    DriverError,
    ExitCallback,
    InProcessDriver,
    ProcessDriver,
    TaskContext,
    TaskLaunch,
    command_line,
    completes_after,
    make_driver,
)

Exit = tuple[int, int, str]


def launch(tmp_path: Path, command: str | None, args: list[str], **env: str) -> TaskLaunch:
    config: dict[str, object] = {"args": args}
    if command is not None:
        config["command"] = command
    return TaskLaunch(
        alloc_id="alloc-1234567890",
        task_name="t",
        driver="raw_exec",
        config=config,
        env={"PATH": os.environ["PATH"], **env},
        task_dir=str(tmp_path),
        stdout_path=str(tmp_path / "t.stdout.0"),
        stderr_path=str(tmp_path / "t.stderr.0"),
    )


def exits() -> tuple[queue.Queue[Exit], ExitCallback]:
    q: queue.Queue[Exit] = queue.Queue()
    return q, lambda code, sig, err: q.put((code, sig, err))


class TestProcessDriver:
    def test_runs_command_with_env_cwd_and_logs(self, tmp_path: Path) -> None:
        q, on_exit = exits()
        script = (
            "import os,sys; print(os.environ['X'], os.getcwd()); sys.stderr.write('e'); sys.exit(4)"
        )
        ProcessDriver().start(launch(tmp_path, sys.executable, ["-c", script], X="hi"), on_exit)
        assert q.get(timeout=10) == (4, 0, "")
        assert (tmp_path / "t.stdout.0").read_text() == f"hi {tmp_path}\n"
        assert (tmp_path / "t.stderr.0").read_text() == "e"

    def test_stop_sends_sigterm_first(self, tmp_path: Path) -> None:
        q, on_exit = exits()
        script = (
            "import signal,sys,time\n"
            "signal.signal(signal.SIGTERM, lambda *a: (print('TERM', flush=True), sys.exit(0)))\n"
            "print('up', flush=True)\n"
            "time.sleep(60)\n"
        )
        handle = ProcessDriver().start(launch(tmp_path, sys.executable, ["-c", script]), on_exit)
        _wait_for_text(tmp_path / "t.stdout.0", "up")
        handle.stop(30)
        assert q.get(timeout=10) == (0, 0, "")
        assert (tmp_path / "t.stdout.0").read_text() == "up\nTERM\n"

    def test_sigkill_after_kill_timeout(self, tmp_path: Path) -> None:
        q, on_exit = exits()
        script = (
            "import signal,time\n"
            "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            "print('up', flush=True)\n"
            "time.sleep(60)\n"
        )
        handle = ProcessDriver().start(launch(tmp_path, sys.executable, ["-c", script]), on_exit)
        _wait_for_text(tmp_path / "t.stdout.0", "up")
        handle.stop(0.2)
        assert q.get(timeout=10) == (0, 9, "")

    def test_kill_is_immediate_sigkill(self, tmp_path: Path) -> None:
        q, on_exit = exits()
        script = "import signal,time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
        handle = ProcessDriver().start(launch(tmp_path, sys.executable, ["-c", script]), on_exit)
        handle.kill()
        assert q.get(timeout=10) == (0, 9, "")

    def test_missing_command_is_a_driver_error(self, tmp_path: Path) -> None:
        with pytest.raises(DriverError, match=r"config\.command is required"):
            ProcessDriver().start(launch(tmp_path, None, []), lambda c, s, e: None)
        with pytest.raises(DriverError, match="failed to launch"):
            ProcessDriver().start(launch(tmp_path, "/nonexistent/x", []), lambda c, s, e: None)


class TestInProcessDriver:
    def test_default_completes(self, tmp_path: Path) -> None:
        q, on_exit = exits()
        InProcessDriver().start(launch(tmp_path, None, []), on_exit)
        assert q.get(timeout=10) == (0, 0, "")

    def test_function_per_task_sees_env(self, tmp_path: Path) -> None:
        q, on_exit = exits()
        seen: list[str] = []

        def task(ctx: TaskContext) -> int:
            seen.append(ctx.env["X"])
            return 3

        InProcessDriver({"t": task}).start(launch(tmp_path, None, [], X="v"), on_exit)
        assert q.get(timeout=10) == (3, 0, "")
        assert seen == ["v"]

    def test_stop_ends_a_waiting_task(self, tmp_path: Path) -> None:
        q, on_exit = exits()
        handle = InProcessDriver(default=completes_after(60)).start(
            launch(tmp_path, None, []), on_exit
        )
        handle.stop(5)
        assert q.get(timeout=10) == (0, 0, "")

    def test_raising_function_fails_with_stderr(self, tmp_path: Path) -> None:
        q, on_exit = exits()

        def task(ctx: TaskContext) -> int:
            raise RuntimeError("boom")

        InProcessDriver(default=task).start(launch(tmp_path, None, []), on_exit)
        assert q.get(timeout=10) == (1, 0, "")
        assert (tmp_path / "t.stderr.0").read_text() == "RuntimeError: boom\n"


class TestMakeDriver:
    def test_names(self) -> None:
        assert isinstance(make_driver("process"), ProcessDriver)
        assert isinstance(make_driver("inprocess"), InProcessDriver)
        with pytest.raises(ValueError, match="unknown driver"):
            make_driver("docker")


def _wait_for_text(path: Path, text: str) -> None:
    """Poll a log file until the child has written `text` (the child's readiness signal)."""
    import time

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text():
            return
        time.sleep(0.02)
    raise AssertionError(f"{path} never contained {text!r}")


class TestCommandLine:
    """What a task runs: raw_exec's command + args; docker's entrypoint + command + args."""

    @staticmethod
    def line(driver: str, **config: object) -> list[str]:
        task = TaskLaunch("a", "t", driver, config, {}, "/", "/o", "/e")
        return command_line(task)

    def test_raw_exec(self) -> None:
        assert self.line("raw_exec", command="/bin/x", args=["-v"]) == ["/bin/x", "-v"]
        with pytest.raises(DriverError, match=r'task "t": config\.command is required'):
            self.line("raw_exec", entrypoint=["/bin/x"])  # not a raw_exec option

    def test_docker_entrypoint_then_command_then_args(self) -> None:
        assert self.line("docker", entrypoint=["rod", "serve"], args=["--port", "1"]) == [
            "rod", "serve", "--port", "1",
        ]  # fmt: skip
        assert self.line("docker", entrypoint=["sh"], command="-c", args=["true"]) == [
            "sh", "-c", "true",
        ]  # fmt: skip
        assert self.line("docker", entrypoint=[], command="/bin/x") == ["/bin/x"]
        with pytest.raises(DriverError, match=r"config\.command or config\.entrypoint is required"):
            self.line("docker", image="x", args=["--config", "c"])  # the image's own: unknown
        with pytest.raises(DriverError, match="must be a string, the others lists"):
            self.line("docker", entrypoint="rod serve")
