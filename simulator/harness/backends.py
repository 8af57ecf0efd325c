"""Where the system under test runs (`-D backend=NAME`): the one list of backends.

Each backend lives in a module of its own on the shared base (backend_base.py). The `-D backend`
setting is checked against this list, and `backend_named` builds the one it names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from simulator.harness.backend_base import Backend
from simulator.harness.compose_backend import ComposeBackend
from simulator.harness.deployed_backend import DeployedBackend
from simulator.harness.errors import BackendUnavailable, HarnessError
from simulator.harness.external_backend import ExternalBackend
from simulator.harness.settings import StackSettings
from simulator.harness.sim_backend import SimBackend

__all__ = ["BACKENDS", "backend_named"]

# name -> how to build it from the settings and the environment.
BACKENDS: dict[str, Callable[[StackSettings, Mapping[str, str]], Backend]] = {
    "sim": lambda settings, environ: SimBackend(settings),
    "compose": lambda settings, environ: ComposeBackend(settings),
    "external": ExternalBackend,
    "deployed": lambda settings, environ: DeployedBackend(settings),
}


def backend_named(settings: StackSettings, environ: Mapping[str, str]) -> Backend:
    """The backend `settings.backend` names; HarnessError in one line for an unknown name."""
    build = BACKENDS.get(settings.backend)
    if build is None:
        raise HarnessError(f"-D backend={settings.backend}: choose one of {', '.join(BACKENDS)}")
    if settings.intake == "listen" and settings.backend != "sim":
        reason = "-D intake=listen runs on the sim backend only (this one starts rod serve)"
        raise BackendUnavailable(settings.backend, reason)
    return build(settings, environ)
