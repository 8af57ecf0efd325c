"""Tests for runners_on_demand.reconcile.settings: the `[reconcile]` table."""

from __future__ import annotations

from typing import Any

import pytest

from runners_on_demand.reconcile.settings import ReconcileSettings
from runners_on_demand.tables import read_table

STATE_PROBLEM = (
    'reconcile.state_variable must be a Nomad Variable path outside nomad/ (letters, digits, "-", '
    '"_", "~", "/"; at most 128), or "" for none'
)


def reconcile_settings(table: dict[str, Any], problems: list[str]) -> ReconcileSettings:
    return read_table(ReconcileSettings, table, "reconcile.", problems)


class TestReconcileSettings:
    def test_an_empty_table_gives_the_defaults(self) -> None:
        problems: list[str] = []
        assert reconcile_settings({}, problems) == ReconcileSettings()
        assert problems == []
        assert ReconcileSettings().interval_seconds == 60.0

    def test_every_key(self) -> None:
        problems: list[str] = []
        table = {
            "interval_seconds": 15,
            "boot_timeout_seconds": 600,
            "idle_grace_seconds": 30.5,
            "max_retries": 5,
            "dispatch_delay_seconds": 10,
            "repos": ["octo/app", "octo/lib"],
        }
        settings = reconcile_settings(table, problems)
        assert problems == []
        assert settings == ReconcileSettings(15.0, 600.0, 30.5, 5, 10.0, ("octo/app", "octo/lib"))

    @pytest.mark.parametrize(
        ("key", "value", "problem"),
        [
            ("interval_seconds", -1, "reconcile.interval_seconds must be a number from 0 to 86400"),
            ("boot_timeout_seconds", 0, "reconcile.boot_timeout_seconds must be a number from 1"),
            ("idle_grace_seconds", "60", "reconcile.idle_grace_seconds must be a number"),
            ("max_retries", True, "reconcile.max_retries must be an integer from 0 to 100"),
            ("max_retries", 1.5, "reconcile.max_retries must be an integer from 0 to 100"),
            ("repos", ["octo"], "reconcile.repos must be a list of owner/repo names"),
            ("repos", "octo/app", "reconcile.repos must be a list of owner/repo names"),
            ("interval", 60, "unknown key reconcile.interval in the config file"),
            ("state_variable", "nomad/jobs/rod", STATE_PROBLEM),  # Nomad's own tree
            ("state_variable", "rod/served repos", STATE_PROBLEM),
            ("state_variable", "r" * 129, STATE_PROBLEM),
            ("state_variable", 1, "reconcile.state_variable has the wrong type (int)"),
        ],
    )
    def test_a_bad_value_is_one_line_and_the_default_stays(
        self, key: str, value: Any, problem: str
    ) -> None:
        problems: list[str] = []
        settings = reconcile_settings({key: value}, problems)
        assert len(problems) == 1 and problems[0].startswith(problem)
        assert settings == ReconcileSettings()

    @pytest.mark.parametrize("path", ["", "ops/rod~state_1", "rod-served-repos"])
    def test_the_state_variable(self, path: str) -> None:
        problems: list[str] = []
        settings = reconcile_settings({"state_variable": path}, problems)
        assert problems == [] and settings.state_variable == path
        assert ReconcileSettings().state_variable == "rod/served-repos"
