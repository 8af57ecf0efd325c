"""Tests for runners_on_demand.reconcile_settings: the `[reconcile]` table."""

from __future__ import annotations

from typing import Any

import pytest

from runners_on_demand.decision import Policy
from runners_on_demand.reconcile_settings import ReconcileSettings, reconcile_settings


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
        ],
    )
    def test_a_bad_value_is_one_line_and_the_default_stays(
        self, key: str, value: Any, problem: str
    ) -> None:
        problems: list[str] = []
        settings = reconcile_settings({key: value}, problems)
        assert len(problems) == 1 and problems[0].startswith(problem)
        assert settings == ReconcileSettings()

    def test_the_plan_policy_carries_the_decision_policy_and_the_credential_mode(self) -> None:
        decision = Policy(trigger_label="rod")
        policy = ReconcileSettings(boot_timeout_seconds=90, max_retries=1).policy(
            decision, jit=False
        )
        assert policy.decision is decision
        assert (policy.boot_timeout, policy.max_retries, policy.runner_precreated) == (90, 1, False)
