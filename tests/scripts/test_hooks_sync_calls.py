"""scripts/hooks_sync_calls.py at a small scale: the figures it prints are the runs' own."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "hooks_sync_calls.py"


def load_script() -> ModuleType:
    """The script as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location("hooks_sync_calls", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_five_runs_over_four_repositories() -> None:
    figures = load_script().run(4)
    rows = {f.name: (f.exit_code, f.plan, f.changes, f.calls) for f in figures}
    assert rows == {
        "dry run": (0, "4 create", 0, 6),  # org, repositories, 4 hook listings
        "first": (0, "4 create", 4, 10),
        "second": (0, "4 unchanged", 0, 6),
        "third": (0, "4 unchanged", 0, 6),
        "prune to 2": (0, "2 unchanged, 2 prune", 2, 8),
    }
    third = next(f for f in figures if f.name == "third")
    assert third.not_modified == 5  # every listing; GET /orgs/acme is not conditional
