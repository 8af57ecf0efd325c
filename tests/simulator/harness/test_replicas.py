"""The reliability stack: its config as `rod serve` reads it, and replicas that really run."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from runners_on_demand.config import load_settings
from simulator.harness.errors import BackendUnavailable
from simulator.harness.replicas import (
    BOOT_TIMEOUT,
    DISPATCH_DELAY,
    IDLE_GRACE,
    RECONCILE_INTERVAL,
    ReplicatedSimBackend,
    StackOnDemand,
    reliable_config,
)
from simulator.harness.settings import StackSettings
from simulator.harness.waiting import wait_for


class TestReliableConfig:
    def test_rod_serve_reads_the_fast_reconciler(self) -> None:
        settings = load_settings(
            {"GITHUB_WEBHOOK_SECRET": "s", "GITHUB_TOKEN": "t"}, reliable_config("octo/app")
        )
        reconcile = settings.reconcile
        assert reconcile.interval_seconds == RECONCILE_INTERVAL
        assert reconcile.boot_timeout_seconds == BOOT_TIMEOUT
        assert reconcile.idle_grace_seconds == IDLE_GRACE
        assert reconcile.dispatch_delay_seconds == DISPATCH_DELAY
        assert reconcile.repos == ("octo/app",)

    def test_the_reconciler_ticks_well_within_the_boot_timeout(self) -> None:
        assert 0 < RECONCILE_INTERVAL < IDLE_GRACE < BOOT_TIMEOUT


class TestReplicatedSimBackend:
    @pytest.mark.parametrize("backend", ["compose", "external"])
    def test_refuses_other_backends_in_one_line(self, backend: str) -> None:
        with pytest.raises(BackendUnavailable, match="runs on sim only"):
            ReplicatedSimBackend(StackSettings(backend=backend))

    def test_replicas_start_reset_and_stop(self, tmp_path: Path) -> None:
        backend = ReplicatedSimBackend(StackSettings(log_dir=tmp_path))
        try:
            endpoints = backend.start()
            first = backend.replicas[0]
            assert endpoints.dispatcher_url == first.url
            second = backend.add_replica()
            assert second.url != first.url
            for replica in (first, second):
                assert httpx.get(f"{replica.url}/readyz", timeout=5).status_code == 200
            backend.reset()
            assert backend.replicas == [first] and not second.alive()
            assert httpx.get(f"{first.url}/readyz", timeout=5).status_code == 200
            config = (tmp_path / "rod-reliable.toml").read_text()
            assert config == reliable_config(StackSettings().repo)
            # The default interval is 60 s: a tick this soon shows the replica read the file.
            wait_for(
                "a reconcile tick",
                lambda: httpx.get(f"{first.url}/metrics", timeout=5).text,
                lambda text: "rod_reconcile_runs_total{" in text,
                timeout=10 * RECONCILE_INTERVAL,
            )
        finally:
            backend.stop()
        assert not first.alive()
        assert backend.replicas == []


class _FakeStack:
    def __init__(self) -> None:
        self.started = self.stopped = 0

    def start(self) -> _FakeStack:
        self.started += 1
        return self

    def stop(self) -> None:
        self.stopped += 1


class TestStackOnDemand:
    def test_starts_once_on_first_use_and_stops_once(self) -> None:
        fake = _FakeStack()
        on_demand = StackOnDemand(lambda: fake)  # type: ignore[arg-type,return-value]
        assert fake.started == 0
        assert on_demand.get() is on_demand.get()
        assert fake.started == 1
        on_demand.stop()
        on_demand.stop()
        assert fake.stopped == 1

    def test_never_used_is_never_started_nor_stopped(self) -> None:
        fake = _FakeStack()
        StackOnDemand(lambda: fake).stop()  # type: ignore[arg-type,return-value]
        assert (fake.started, fake.stopped) == (0, 0)
