"""The organization stack: its config as `rod serve` reads it, and its stage on real emulators."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from runners_on_demand.config import load_settings
from simulator.harness.errors import BackendUnavailable
from simulator.harness.org_stack import (
    ALLOWED,
    GROUP,
    ORG,
    REFUSED,
    OrgSimBackend,
    OrgStack,
    org_config,
)
from simulator.harness.settings import StackSettings


class TestOrgConfig:
    def test_rod_serve_reads_one_pool_in_the_runner_group(self) -> None:
        settings = load_settings(
            {"GITHUB_WEBHOOK_SECRET": "s", "GITHUB_TOKEN": "t"}, org_config("github-runner")
        )
        (pool,) = settings.policy.pools
        assert (settings.organization, pool.nomad_job, pool.runner_group) == (
            ORG,
            "github-runner",
            GROUP,
        )


class TestOrgSimBackend:
    @pytest.mark.parametrize("backend", ["compose", "external"])
    def test_refuses_other_backends_in_one_line(self, backend: str) -> None:
        with pytest.raises(BackendUnavailable, match="runs on sim only"):
            OrgSimBackend(StackSettings(backend=backend))


class TestOrgStack:
    def test_the_stage_then_rod_serve_after_every_reset(self, tmp_path: Path) -> None:
        with OrgStack(StackSettings(log_dir=tmp_path)) as stack:
            for _ in range(2):  # the start, then a reset: the group is made anew each time
                (hook,) = stack.github.list_hooks(ORG)
                assert hook["id"] == stack.hook_id and hook["type"] == "Organization"
                groups = {g["name"]: g["id"] for g in stack.github.list_runner_groups(ORG)}
                assert groups == {"Default": 1, GROUP: stack.group_id}
                served = stack.github.list_runner_group_repos(ORG, groups[GROUP])
                assert sorted(r["name"] for r in served) == sorted(ALLOWED)
                assert REFUSED[0] not in {r["name"] for r in served}
                ready = httpx.get(f"{stack.endpoints.dispatcher_url}/readyz", timeout=5)
                assert ready.status_code == 200
                stack.reset()
            assert "runner group 'linux-runners'" in (tmp_path / "rod-serve-org.log").read_text()
