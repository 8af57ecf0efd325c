"""Poll until a condition holds or fail with the last state seen: no sleeps as assertions."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from simulator.harness.errors import WaitTimeout

T = TypeVar("T")

DEFAULT_TIMEOUT = 20.0
DEFAULT_INTERVAL = 0.05


def wait_for(
    what: str,
    probe: Callable[[], T],
    holds: Callable[[T], bool],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    interval: float = DEFAULT_INTERVAL,
    describe: Callable[[T], str] = repr,
    transient: tuple[type[BaseException], ...] = (),
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call `probe` until `holds(result)`; return that result or raise WaitTimeout.

    Exceptions listed in `transient` (e.g. a connection refused while a server starts) count as
    "not yet" and are shown as the last observed state if time runs out.
    """
    deadline = clock() + timeout
    last = "nothing observed yet"
    while True:
        try:
            observed = probe()
        except transient as exc:
            last = f"{type(exc).__name__}: {exc}"
        else:
            if holds(observed):
                return observed
            last = describe(observed)
        if clock() >= deadline:
            raise WaitTimeout(
                f"timed out after {timeout:g}s waiting for {what}; last observed: {last}"
            )
        sleep(interval)
