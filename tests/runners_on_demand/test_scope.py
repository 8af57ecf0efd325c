"""Tests for runners_on_demand.scope: where a runner lives, and who may use an org's group."""

from __future__ import annotations

import pytest

from runners_on_demand.scope import RunnerGroup, RunnerScope, runner_group_from_rest

LINUX = RunnerGroup("Acme", 2, "linux", "selected", selected=frozenset({"acme/app"}))


class TestRunnerScope:
    def test_a_repository_and_an_organization(self) -> None:
        assert RunnerScope("Acme", "App").key == "acme/app"
        assert RunnerScope("Acme").key == "acme"
        assert (str(RunnerScope("Acme", "App")), str(RunnerScope("Acme"))) == ("Acme/App", "Acme")

    @pytest.mark.parametrize("key", ["acme/app", "acme"])
    def test_parse_undoes_str(self, key: str) -> None:
        assert str(RunnerScope.parse(key)) == key

    def test_unpacks_as_the_ports_owner_and_repo(self) -> None:
        owner, repo = RunnerScope.parse("acme")
        assert (owner, repo) == ("acme", None)


class TestRunnerGroupAllows:
    def test_selected_serves_the_listed_private_repositories_only(self) -> None:
        assert LINUX.allows("acme/App", private=True)
        assert not LINUX.allows("acme/lib", private=True)

    def test_public_repositories_need_allows_public_repositories(self) -> None:
        # "By default, only private repositories can access runners in a runner group".
        assert not LINUX.allows("acme/app", private=False)
        assert RunnerGroup("acme", 1, "Default", allows_public_repositories=True).allows(
            "acme/web", private=False
        )

    def test_an_unknown_visibility_of_the_repository_is_left_to_github(self) -> None:
        assert LINUX.allows("acme/app", private=None)

    def test_private_visibility(self) -> None:
        group = RunnerGroup("acme", 3, "private", "private", allows_public_repositories=True)
        assert group.allows("acme/x", private=True) and not group.allows("acme/x", private=False)

    def test_never_a_repository_of_another_owner(self) -> None:
        assert not RunnerGroup("acme", 1, "Default").allows("other/app", private=True)


class TestRunnerGroupFromRest:
    def test_a_listed_group(self) -> None:
        rest = {"id": 2, "name": "linux", "visibility": "selected", "default": False}
        group = runner_group_from_rest("acme", rest, ["Acme/App"])
        assert group == RunnerGroup("acme", 2, "linux", "selected", False, frozenset({"acme/app"}))

    def test_an_unknown_visibility_serves_nothing_listed(self) -> None:
        group = runner_group_from_rest("acme", {"id": 5, "name": "x", "visibility": "new"})
        assert group is not None and not group.allows("acme/app", private=True)

    def test_unusable(self) -> None:
        assert runner_group_from_rest("acme", {"name": "x"}) is None


class TestRunnerGroupDescribe:
    def test_for_people(self) -> None:
        assert LINUX.describe() == (
            "runner group 'linux' (id 2) of Acme: visibility selected (1 repositories), "
            "private only"
        )
