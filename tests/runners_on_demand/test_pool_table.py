"""Tests for runners_on_demand.pool_table: the [[pools]] array and its runner groups."""

from __future__ import annotations

from typing import Any

from runners_on_demand.decision import Pool
from runners_on_demand.pool_table import read_pools


def pools(*entries: dict[str, Any], organization: str | None = "acme") -> tuple[Any, list[str]]:
    problems: list[str] = []
    found = read_pools({"pools": list(entries)}, organization, problems)
    return found, problems


class TestReadPools:
    def test_a_pool_with_a_runner_group(self) -> None:
        found, problems = pools(
            {"name": "org", "nomad_job": "github-runner", "labels": [], "runner_group": "Linux"}
        )
        assert problems == []
        assert found == (Pool("org", "github-runner", frozenset(), runner_group="Linux"),)

    def test_a_runner_group_needs_the_organization(self) -> None:
        _, problems = pools(
            {"name": "org", "nomad_job": "j", "labels": [], "runner_group": "linux"},
            organization=None,
        )
        assert problems == [
            'pools[0].runner_group needs the top-level organization = "<login>" it belongs to'
        ]

    def test_a_runner_group_must_be_a_name(self) -> None:
        _, problems = pools(
            {"name": "a", "nomad_job": "j", "labels": [], "runner_group": " "},
            {"name": "b", "nomad_job": "k", "labels": [], "runner_group": 3},
        )
        assert problems == [
            "pools[0].runner_group must be a runner group's name",
            "pools[1].runner_group has the wrong type (int)",
            "organization is set, but no pool names a runner_group to use it for",
        ]

    def test_pools_sharing_a_nomad_job_share_the_runner_group(self) -> None:
        _, problems = pools(
            {"name": "org", "nomad_job": "github-runner", "labels": ["x"], "runner_group": "g"},
            {"name": "repo", "nomad_job": "github-runner", "labels": []},
        )
        assert problems == [
            "pools 'org' and 'repo' share nomad_job 'github-runner' but not their runner_group; "
            "give each runner group its own Nomad job"
        ]

    def test_an_organization_without_a_runner_group_pool_is_a_mistake(self) -> None:
        _, problems = pools({"name": "a", "nomad_job": "j", "labels": []})
        assert problems == ["organization is set, but no pool names a runner_group to use it for"]
