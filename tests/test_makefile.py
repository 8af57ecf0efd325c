"""The Makefile's promise on a fresh machine: it finds Python 3.11, or says in one line what to do.

Fake interpreters on PATH stand in for machines whose `python3` is older or has no `venv`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def fake(bin_dir: Path, name: str, script: str) -> None:
    """An executable `name` in `bin_dir` running `script` (sh)."""
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)


def make(bin_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`make` in the repository with only `bin_dir` (and `rm`, `echo`) on PATH: no other Python."""
    tools = bin_dir / "tools"
    tools.mkdir(exist_ok=True)
    for tool in ("rm", "echo"):
        (tools / tool).symlink_to(shutil.which(tool) or f"/bin/{tool}")
    environ = {**os.environ, "PATH": f"{bin_dir}:{tools}"}
    # Under `make test` these say "a sub-make": its messages would read `make[1]:`, not `make:`.
    for name in ("PYTHON", "MAKELEVEL", "MAKEFLAGS", "MFLAGS"):
        environ.pop(name, None)
    return subprocess.run(
        [shutil.which("make") or "make", "--no-print-directory", "-s", *args],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )


def older_python3(bin_dir: Path) -> None:
    """A `python3` that is Python 3.10."""
    fake(bin_dir, "python3", "exit 1  # sys.version_info < (3, 11)")


class TestFindsPython:
    def test_python3_11_is_preferred_when_python3_is_older(self, tmp_path: Path) -> None:
        older_python3(tmp_path)
        (tmp_path / "python3.11").symlink_to(sys.executable)
        done = make(tmp_path, "--eval", "where: ; @echo $(PYTHON)", "where")
        assert done.stdout.strip() == str(tmp_path / "python3.11")

    def test_only_an_older_python3_is_refused_in_one_line(self, tmp_path: Path) -> None:
        older_python3(tmp_path)
        venv = tmp_path / "venv"
        done = make(tmp_path, f"VENV={venv}", f"{venv}/.installed")
        assert done.returncode != 0
        ours, make_says = done.stderr.strip().splitlines()  # make adds its own "*** Error 2"
        assert ours.startswith("make: Python 3.11 or newer is needed;")
        assert make_says.startswith("make: ***")
        assert not venv.exists()

    def test_a_python_without_venv_says_what_to_install(self, tmp_path: Path) -> None:
        # Passes the version check, fails `-m venv` as Debian's python3.11 without python3.11-venv.
        fake(tmp_path, "python3.11", 'case "$2" in venv) exit 1;; *) exit 0;; esac')
        venv = tmp_path / "venv"
        done = make(tmp_path, f"VENV={venv}", f"{venv}/.installed")
        assert done.returncode != 0
        ours, _ = done.stderr.strip().splitlines()
        assert ours.endswith("on Debian/Ubuntu install python3.11-venv")
        assert not venv.exists()


class TestDryRun:
    def test_make_n_test_prints_the_suite_and_runs_nothing(self, tmp_path: Path) -> None:
        # GNU make runs a recipe line naming $(MAKE) even under -n; none of `test`'s may.
        venv = tmp_path / "venv"
        (venv / "bin").mkdir(parents=True)
        ran = tmp_path / "ran"
        for tool in ("behave", "python", "pytest", "ruff", "mypy"):
            fake(venv / "bin", tool, f'echo "{tool} $*" >> {ran}')
        (venv / ".installed").touch()  # newer than pyproject.toml: nothing to install
        (tmp_path / "python3.11").symlink_to(sys.executable)
        done = make(tmp_path, "-n", f"VENV={venv}", "test")
        assert done.returncode == 0, done.stderr
        assert f"{venv}/bin/behave -D backend=deployed" in done.stdout
        assert f"{venv}/bin/python -m simulator.livedoc" in done.stdout
        assert not ran.exists(), ran.read_text()
