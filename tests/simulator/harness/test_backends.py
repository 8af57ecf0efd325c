"""Backends: the embedded one by default; external refuses clearly when unusable.

The compose backend has its own tests: test_compose_backend.py.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from simulator.harness.backends import BACKENDS, backend_named
from simulator.harness.compose_backend import ComposeBackend
from simulator.harness.deployed_backend import DeployedBackend
from simulator.harness.errors import BackendUnavailable, HarnessError, StackStartError
from simulator.harness.external_backend import ExternalBackend
from simulator.harness.settings import StackSettings
from simulator.harness.sim_backend import SimBackend


class TestBackendNamed:
    @pytest.mark.parametrize(
        ("name", "kind"),
        [
            ("sim", SimBackend),
            ("compose", ComposeBackend),
            ("external", ExternalBackend),
            ("deployed", DeployedBackend),
        ],
    )
    def test_picks_the_named_backend(self, name: str, kind: type) -> None:
        assert isinstance(backend_named(StackSettings(backend=name), {}), kind)

    def test_an_unknown_name_is_refused_in_one_line_naming_the_registry(self) -> None:
        with pytest.raises(HarnessError) as raised:
            backend_named(StackSettings(backend="k8s"), {})
        assert str(raised.value) == f"-D backend=k8s: choose one of {', '.join(BACKENDS)}"
        assert list(BACKENDS) == ["sim", "compose", "external", "deployed"]

    @pytest.mark.parametrize("name", ["compose", "external"])
    def test_the_listen_intake_runs_on_the_embedded_backend_only(self, name: str) -> None:
        with pytest.raises(BackendUnavailable, match="-D intake=listen runs on the sim backend"):
            backend_named(StackSettings(backend=name, intake="listen"), {})


class TestExternalBackend:
    def test_lists_every_missing_variable(self) -> None:
        backend = ExternalBackend(StackSettings(backend="external"), {"NOMAD_ADDR": "http://n"})
        with pytest.raises(BackendUnavailable) as raised:
            backend.start()
        message = str(raised.value)
        assert message.startswith("not available here: -D backend=external: set ")
        for variable in ("ROD_DISPATCHER_URL", "GITHUB_WEBHOOK_SECRET", "GITHUB_TOKEN"):
            assert variable in message
        assert "NOMAD_ADDR" not in message

    def test_reads_the_deployment_from_the_environment(self) -> None:
        environ = {
            "ROD_DISPATCHER_URL": "https://rod.example.org",
            "GITHUB_WEBHOOK_SECRET": "s",
            "GITHUB_API_URL": "http://127.0.0.1:9000",
            "GITHUB_TOKEN": "t",
            "NOMAD_ADDR": "http://127.0.0.1:4646",
            "NOMAD_TOKEN": "n",
        }
        endpoints = ExternalBackend(StackSettings(backend="external"), environ).start()
        assert endpoints.webhook_url == "https://rod.example.org/webhook"
        assert endpoints.nomad_token == "n"


class TestSimBackend:
    def test_serve_args_reach_rod_serve(self, tmp_path: Path) -> None:
        config = tmp_path / "rod.toml"
        config.write_text("[reconcile]\ninterval_seconds = -1\n")
        backend = SimBackend(
            StackSettings(log_dir=tmp_path, timeout=20), serve_args=["--config", str(config)]
        )
        try:
            with pytest.raises(StackStartError, match=r"reconcile\.interval_seconds"):
                backend.start()
        finally:
            backend.stop()

    def test_a_killed_dispatcher_starts_again_on_the_same_url(self, tmp_path: Path) -> None:
        backend = SimBackend(StackSettings(log_dir=tmp_path, timeout=20))
        try:
            endpoints = backend.start()
            dispatcher = backend.dispatcher
            assert dispatcher is not None
            dispatcher.kill()
            assert not dispatcher.alive()
            with pytest.raises(httpx.TransportError):
                httpx.get(f"{endpoints.dispatcher_url}/readyz", timeout=2)
            dispatcher.start(timeout=20)
            assert httpx.get(f"{endpoints.dispatcher_url}/readyz", timeout=2).status_code == 200
        finally:
            backend.stop()
