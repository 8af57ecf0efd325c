"""Which of many alike log lines get written: per kind, the first, then a count per interval. Pure.

A flood of forged requests would otherwise write one line each (and spend the CPU on it); the
metrics still count every one. The caller brings the time and writes the lines:

    take(kind, now) -> True: write this line in full; False: left out, and counted
    left_out(now)   -> the counts since each kind's last line, due every `interval` seconds
"""

from __future__ import annotations

import math

__all__ = ["QuietLog"]


class QuietLog:
    """Per kind of line: the first in full, then at most one count per `interval` seconds."""

    __slots__ = ("_left_out", "_quiet_until", "interval")

    def __init__(self, interval: float) -> None:
        self.interval = interval  # 0: every line is written
        self._quiet_until: dict[str, float] = {}
        self._left_out: dict[str, int] = {}

    def take(self, kind: str, now: float) -> bool:
        """Whether this line is written; if not, it is counted for `left_out`."""
        if now >= self._quiet_until.get(kind, -math.inf):
            self._quiet_until[kind] = now + self.interval
            return True
        self._left_out[kind] = self._left_out.get(kind, 0) + 1
        return False

    def left_out(self, now: float) -> dict[str, int]:
        """The counts of lines left out, by kind; those kinds keep quiet for another interval."""
        counts, self._left_out = self._left_out, {}
        for kind in counts:
            self._quiet_until[kind] = now + self.interval
        return counts
