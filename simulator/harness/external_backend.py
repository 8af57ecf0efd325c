"""`-D backend=external`: a deployed dispatcher and Nomad, with a GitHub emulator they both use."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from simulator.harness.backend_base import EXTERNAL_VARIABLES, Endpoints, settle
from simulator.harness.errors import BackendUnavailable
from simulator.harness.nomad_client import NomadApi
from simulator.harness.settings import StackSettings


class ExternalBackend:
    """A deployed dispatcher and Nomad, wired to a GitHub emulator whose control plane we drive.

    The scenarios start workflow runs through the emulator's `/_sim/` control plane, which real
    GitHub lacks, so GITHUB_API_URL must point at a `rod sim github` the dispatcher also uses.
    The runner job must be registered already; between scenarios its children are purged, so
    use a cluster (or namespace) dedicated to testing.
    """

    name = "external"
    registers_runner_job = False

    def __init__(self, settings: StackSettings, environ: Mapping[str, str]) -> None:
        self.settings = settings
        self.environ = environ

    def start(self) -> Endpoints:
        """Read the deployment's coordinates; refuse in one line if any is missing."""
        missing = [var for var in EXTERNAL_VARIABLES.values() if not self.environ.get(var)]
        if missing:
            raise BackendUnavailable(self.name, f"set {', '.join(missing)}")
        values: dict[str, Any] = {k: self.environ[v] for k, v in EXTERNAL_VARIABLES.items()}
        return Endpoints(nomad_token=self.environ.get("NOMAD_TOKEN"), **values)

    def reset(self) -> None:
        """Purge the runner job's children on Nomad and reset the GitHub emulator."""
        environ = self.environ
        nomad = NomadApi(environ["NOMAD_ADDR"], environ.get("NOMAD_TOKEN"))
        settle(
            empty_nomad=lambda: nomad.purge_children(self.settings.runner_job),
            github_url=environ["GITHUB_API_URL"],
            dispatcher_url=environ["ROD_DISPATCHER_URL"],
            timeout=self.settings.timeout,
        )

    def stop(self) -> None:
        """Nothing was started."""

    def diagnostics(self) -> str:
        """Where the dispatcher is."""
        return f"external dispatcher at {self.environ.get('ROD_DISPATCHER_URL')}"
