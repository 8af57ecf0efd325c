"""Percentiles, spreads and the printed table."""

from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """The `q` quantile (0..1) of `values`, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def spread(values: Sequence[float], fmt: str = "{:.0f}") -> str:
    """The median of repeated figures and, when repeated, their range: `2,243 (2,100-2,300)`."""
    middle = fmt.format(statistics.median(values))
    if len(values) < 2:
        return middle
    return f"{middle} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def ratio(numerator: Sequence[float], denominator: Sequence[float]) -> str:
    """Median ratio of paired figures, with the range over the pairs."""
    pairs = [n / d for n, d in zip(numerator, denominator, strict=True) if d]
    return spread(pairs, "{:.2f}x")


def load_average() -> str:
    """The 1-minute load average, for the record of how busy the shared machine was."""
    return f"{os.getloadavg()[0]:.2f}"


def wait_until_quiet(max_load: float | None, max_wait: float) -> str:
    """Wait (at most `max_wait` s) until the 1-minute load average is at most `max_load`."""
    deadline = time.monotonic() + max_wait
    while max_load is not None and os.getloadavg()[0] > max_load and time.monotonic() < deadline:
        time.sleep(5.0)
    return load_average()


def markdown(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
