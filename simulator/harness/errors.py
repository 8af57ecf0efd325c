"""One exception tree for the harness; every message fits on one line.

HarnessError
├── BackendUnavailable   this backend cannot run here (no Docker engine, missing settings)
├── StackStartError      a part of the stack did not come up (with the tail of its log)
└── WaitTimeout          a condition did not hold in time (with the last observed state)
"""

from __future__ import annotations


class HarnessError(Exception):
    """Base of every error the harness raises on purpose."""


class BackendUnavailable(HarnessError):
    """The chosen backend cannot be used on this machine; the message says why."""

    def __init__(self, backend: str, reason: str) -> None:
        super().__init__(f"not available here: -D backend={backend}: {reason}")
        self.backend = backend
        self.reason = reason


class StackStartError(HarnessError):
    """An emulator, the job registration or the dispatcher failed to start."""


class WaitTimeout(HarnessError, AssertionError):
    """A polled condition never held; an AssertionError so behave reports a failed step."""
