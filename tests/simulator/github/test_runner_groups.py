"""Runner groups as pure state: the default group, names, visibility and repository access."""

from __future__ import annotations

import pytest

from simulator.github.errors import Conflict, NotFound, ValidationFailed
from simulator.github.runner_groups import RunnerGroup, RunnerGroups

ORG = "acme"


@pytest.fixture
def groups() -> RunnerGroups:
    registry = RunnerGroups()
    registry.add_org(ORG)
    return registry


class TestAllows:
    @pytest.mark.parametrize(
        ("visibility", "selected", "allows_public", "repo_id", "private", "expected"),
        [
            ("all", [], False, 1, True, True),
            ("all", [], False, 1, False, False),  # public repositories need the opt-in
            ("all", [], True, 1, False, True),
            ("selected", [1], False, 1, True, True),
            ("selected", [1], False, 2, True, False),
            ("selected", [1], False, 1, False, False),  # selected, but public: still not
            ("selected", [1], True, 1, False, True),
            ("private", [], True, 1, True, True),
            ("private", [], True, 1, False, False),
        ],
    )
    def test_policy(
        self,
        visibility: str,
        selected: list[int],
        allows_public: bool,
        repo_id: int,
        private: bool,
        expected: bool,
    ) -> None:
        group = RunnerGroup(2, ORG, "g", visibility, allows_public, False, selected)
        assert group.allows(repo_id=repo_id, private=private) is expected


class TestAddOrg:
    def test_default_group_is_id_1_visible_to_all_and_closed_to_public_repos(
        self, groups: RunnerGroups
    ) -> None:
        (default,) = groups.list(ORG)
        assert (default.id, default.name, default.visibility, default.default) == (
            1,
            "Default",
            "all",
            True,
        )
        assert default.allows_public_repositories is False


class TestGetAndFind:
    def test_unknown_org_or_id_is_404(self, groups: RunnerGroups) -> None:
        with pytest.raises(NotFound):
            groups.get(ORG, 2)
        with pytest.raises(NotFound):
            groups.get("other", 1)

    def test_find_by_name_ignores_case(self, groups: RunnerGroups) -> None:
        made = groups.create(ORG, name="GPU")
        assert groups.find(ORG, "gpu") is made
        assert groups.find(ORG, "default") is groups.get(ORG, 1)
        assert groups.find(ORG, "nope") is None


class TestCreate:
    def test_ids_count_up_and_are_never_reused(self) -> None:
        ids: dict[str, int] = {}
        first = RunnerGroups(ids)
        first.add_org(ORG)
        a = first.create(ORG, name="a")
        first.delete(ORG, a.id)
        again = RunnerGroups(ids)  # as after a reset, with the backend's id counters
        again.add_org(ORG)
        assert again.create(ORG, name="a").id == a.id + 1

    def test_selection_is_kept_only_for_selected(self, groups: RunnerGroups) -> None:
        everyone = groups.create(ORG, name="all", selected_repository_ids=[5])
        some = groups.create(
            ORG, name="some", visibility="selected", selected_repository_ids=[5, 5]
        )
        assert everyone.selected_repository_ids == [] and some.selected_repository_ids == [5]

    def test_duplicate_name_is_409_and_bad_input_422(self, groups: RunnerGroups) -> None:
        groups.create(ORG, name="gpu")
        with pytest.raises(Conflict):
            groups.create(ORG, name="GPU")
        with pytest.raises(ValidationFailed):
            groups.create(ORG, name=" ")
        with pytest.raises(ValidationFailed):
            groups.create(ORG, name="x", visibility="internal")
        assert [g.name for g in groups.list(ORG)] == ["Default", "gpu"]


class TestUpdate:
    def test_leaving_selected_drops_the_selection(self, groups: RunnerGroups) -> None:
        group = groups.create(ORG, name="g", visibility="selected", selected_repository_ids=[1])
        groups.update(ORG, group.id, name="g2", visibility="all", allows_public_repositories=True)
        assert (group.name, group.visibility, group.selected_repository_ids) == ("g2", "all", [])
        assert group.allows_public_repositories is True

    def test_renaming_onto_another_group_is_409(self, groups: RunnerGroups) -> None:
        group = groups.create(ORG, name="g")
        with pytest.raises(Conflict):
            groups.update(ORG, group.id, name="default")
        assert groups.update(ORG, group.id, name="G").name == "G"  # its own name, recased


class TestDelete:
    def test_the_default_group_stays(self, groups: RunnerGroups) -> None:
        with pytest.raises(ValidationFailed):
            groups.delete(ORG, 1)
        assert groups.get(ORG, 1).default


class TestRepositories:
    def test_add_remove_and_set_need_visibility_selected(self, groups: RunnerGroups) -> None:
        group = groups.create(ORG, name="g", visibility="selected")
        groups.add_repository(ORG, group.id, 7)
        groups.add_repository(ORG, group.id, 7)
        groups.add_repository(ORG, group.id, 8)
        groups.remove_repository(ORG, group.id, 7)
        assert group.selected_repository_ids == [8]
        groups.set_repositories(ORG, group.id, [1, 2])
        assert group.selected_repository_ids == [1, 2]
        with pytest.raises(ValidationFailed):
            groups.add_repository(ORG, 1, 7)  # Default: visibility all
