"""scripts/bench_burst.py at CI scale: a burst through drops, copies, Nomad 500s and a SIGKILL.

The benchmark prints figures and asserts nothing; this runs its `run()` on 60 jobs and checks the
figures issue 5 promises: every job served, none lost, no runner started in vain. Real processes
throughout: `rod serve` (killed with SIGKILL once a quarter of the jobs have a Nomad child, then
started again), and a `rod sim runner` per Nomad child under the emulator's process driver.
"""

from __future__ import annotations

import importlib.util
import io
import sys
from pathlib import Path
from types import ModuleType

from rich.console import Console

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench_burst.py"
JOBS = 60


def load_script() -> ModuleType:
    """The benchmark script as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location("bench_burst", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_a_killed_dispatcher_still_gives_every_job_exactly_one_runner() -> None:
    bench = load_script()
    args = bench.parse(
        [
            *("--jobs", str(JOBS), "--job-seconds", "0.2", "--seed", "7"),
            *("--reconcile-interval", "1", "--idle-grace", "3", "--timeout", "240"),
            "--kill-midway",
        ]
    )
    output = io.StringIO()
    watch, extra = bench.run(args, Console(file=output, width=120))
    where = f"rod serve log: {extra['log']} | {output.getvalue()[-2000:]}"
    assert extra["killed_at"] is not None, f"rod serve was never killed | {where}"
    assert watch.finished, f"not back to zero: {watch.progress()} | {where}"
    assert len(watch.served) == JOBS, f"{len(watch.served)} of {JOBS} jobs served | {where}"
    assert watch.unused_runners == set(), f"runners that ran no job | {where}"
    assert sum(watch.children.values()) == JOBS, f"{dict(watch.children)} | {where}"
