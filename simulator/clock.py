"""A controllable clock, so tests can expire tokens and time out runners without sleeping."""

from __future__ import annotations

import threading
import time


class Clock:
    """Wall-clock time plus an offset that the control plane can advance."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        """Seconds since the epoch, as the emulated service sees them."""
        with self._lock:
            return time.time() + self._offset

    def advance(self, seconds: float) -> float:
        """Move emulated time forward by `seconds` (never backward) and return the new now()."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._offset += seconds
        return self.now()

    def reset(self) -> None:
        """Back to real time."""
        with self._lock:
            self._offset = 0.0
