"""The webhook edge's lines that a sender can multiply: refused requests, and deliveries signed
with GITHUB_WEBHOOK_SECRET_PREVIOUS. Per kind, the first is logged, then one line per interval
counts the others (quiet_log.py), so a flood of forged requests cannot flood the log or spend
the CPU on it; the metrics count every one."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from runners_on_demand.quiet_log import QuietLog

__all__ = ["EdgeLog"]

LINE = "delivery %s event=%s outcome=%s status=%s%s"  # as the edge logs every delivery
_PREVIOUS = "previous_secret"  # the kind of a delivery signed with the previous secret


class EdgeLog:
    """Lines of `log` at INFO, quieted per kind; `summarise` at shutdown writes what is due."""

    def __init__(
        self, log: logging.Logger, interval: float, monotonic: Callable[[], float]
    ) -> None:
        self._log = log
        self._quiet = QuietLog(interval)
        self._monotonic = monotonic
        self._summary: asyncio.TimerHandle | None = None

    def refused(self, delivery: str, event: str, outcome: str, status: object, detail: str) -> None:
        """A refused request's line, the delivery's as the edge writes it; quieted by outcome."""
        self._quietly(outcome, LINE, delivery, event, outcome, status, detail)

    def previous_secret(self, delivery: str) -> None:
        """A delivery signed with the previous secret: GitHub's hook still holds it."""
        self._quietly(_PREVIOUS, "delivery %s signed with GITHUB_WEBHOOK_SECRET_PREVIOUS", delivery)

    def summarise(self) -> None:
        """Per kind, one line counting those left out since its last line."""
        if self._summary is not None:
            self._summary.cancel()
            self._summary = None
        interval = self._quiet.interval
        for kind, count in self._quiet.left_out(self._monotonic()).items():
            if kind == _PREVIOUS:
                what = "signed with GITHUB_WEBHOOK_SECRET_PREVIOUS"
            else:
                what = f"refused as {kind}"
            self._log.info("deliveries %s: %d more (one such line per %gs)", what, count, interval)

    def _quietly(self, kind: str, message: str, *args: object) -> None:
        """Log if no line of this kind was written for an interval; else count it."""
        if not self._log.isEnabledFor(logging.INFO):
            return
        if self._quiet.take(kind, self._monotonic()):
            self._log.info(message, *args)
        elif self._summary is None:  # the count is written an interval from now
            loop = asyncio.get_running_loop()
            self._summary = loop.call_later(self._quiet.interval, self.summarise)
