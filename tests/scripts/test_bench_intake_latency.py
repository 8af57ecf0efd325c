"""scripts/bench_intake_latency.py at the smallest scale: it measures both ways in and prints.

The benchmark asserts nothing; this checks that it runs through both stacks (real `rod serve` and
`rod listen` processes, real fake runners) and prints one row of figures per intake.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench_intake_latency.py"


def test_one_row_of_figures_per_intake() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--rounds", "1", "--burst", "2"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = {line.split()[0]: line.split()[1:] for line in done.stdout.splitlines()[2:]}
    assert sorted(rows) == ["listen", "webhook"]
    for figures in rows.values():
        p50, p90, low, high, burst = (float(value) for value in figures)
        assert 0 < low <= p50 <= p90 <= high and burst > 0
