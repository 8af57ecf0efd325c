"""Tests for runners_on_demand.reconcile.heard: the state Variable's items, merged and pruned."""

from __future__ import annotations

import json

import pytest

from runners_on_demand.reconcile.heard import (
    MAX_BYTES,
    REFRESH,
    combine,
    decode,
    differs,
    encode,
    is_variable_path,
)

NOW = 1_800_000_000.0


def heard(*entries: tuple[str, float]) -> dict[str, tuple[str, float]]:
    return {name.lower(): (name, at) for name, at in entries}


class TestEncoding:
    def test_one_item_of_compact_json_newest_first(self) -> None:
        items = encode(heard(("octo/Old", NOW - 60), ("octo/new", NOW)))
        assert items == {"repos": f'[["octo/new",{int(NOW)}],["octo/Old",{int(NOW - 60)}]]'}
        assert decode(items) == heard(("octo/new", NOW), ("octo/Old", NOW - 60))

    def test_entries_that_are_not_rods_are_skipped(self) -> None:
        entries = [["octo/a", 5], ["not a repo", 6], ["octo/b", "7"], ["octo/c"], 8, ["OCTO/A", 9]]
        assert decode({"repos": json.dumps(entries)}) == heard(("OCTO/A", 9.0))

    @pytest.mark.parametrize("items", [{}, {"repos": "{"}, {"repos": '{"octo/a": 1}'}])
    def test_items_that_are_not_rods_format_are_one_line(self, items: dict[str, str]) -> None:
        with pytest.raises(ValueError, match=r'^no JSON list in item "repos"$'):
            decode(items)


class TestCombine:
    def test_the_latest_time_of_each_side_wins(self) -> None:
        stored = heard(("octo/a", NOW - 10), ("octo/b", NOW))
        ours = heard(("Octo/A", NOW), ("octo/c", NOW - 5))
        assert combine(stored, ours) == heard(("Octo/A", NOW), ("octo/b", NOW), ("octo/c", NOW - 5))

    def test_gone_and_quiet_repositories_are_pruned(self) -> None:
        stored = heard(("octo/gone", NOW), ("octo/quiet", NOW - 100), ("octo/kept", NOW))
        assert combine(stored, {}, gone={"octo/gone"}, cutoff=NOW - 50) == heard(("octo/kept", NOW))

    def test_the_oldest_are_dropped_to_stay_under_the_size_budget(self) -> None:
        # The longest names GitHub allows (39 + 1 + 100 characters), more than fit.
        many = heard(*((f"{'o' * 39}/{i:03d}{'r' * 97}", NOW + i) for i in range(400)))
        kept = combine({}, many)
        assert 200 <= len(kept) < 400
        assert len(encode(kept)["repos"]) <= MAX_BYTES < 64 * 1024  # Nomad's limit on items
        assert min(at for _, at in kept.values()) == NOW + 400 - len(kept)  # the newest stay


class TestDiffers:
    def test_another_set_of_names_is_a_write(self) -> None:
        stored = heard(("octo/a", NOW))
        assert not differs(stored, heard(("octo/a", NOW)))
        assert differs(stored, heard(("octo/a", NOW), ("octo/b", NOW)))  # heard of afresh
        assert differs(stored, {})  # pruned or forgotten

    def test_a_time_is_refreshed_only_when_much_newer(self) -> None:
        stored = heard(("octo/a", NOW))
        assert not differs(stored, heard(("octo/a", NOW + REFRESH)))
        assert differs(stored, heard(("octo/a", NOW + REFRESH + 1)))


@pytest.mark.parametrize(
    ("path", "valid"),
    [
        ("", True),  # none
        ("rod/served-repos", True),
        ("a~b_c-1/d", True),
        ("nomad/jobs/rod/state", False),  # Nomad's own tree
        ("rod/served repos", False),
        ("rod/" + "x" * 125, False),  # 129 characters
    ],
)
def test_is_variable_path(path: str, valid: bool) -> None:
    assert is_variable_path(path) is valid
