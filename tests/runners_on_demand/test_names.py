"""Tests for runners_on_demand.names: GitHub's name grammar and our runner names."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runners_on_demand.names import (
    RunnerName,
    is_valid_full_name,
    parse_runner_name,
    runner_name,
)


class TestIsValidFullName:
    @pytest.mark.parametrize(
        "name",
        [
            "octo-org/example-workflow",
            "a/b",
            "A1/.github",
            "x/..x",
            "a/_",
            "o" * 39 + "/" + "r" * 100,
        ],
    )
    def test_valid(self, name: str) -> None:
        assert is_valid_full_name(name)

    @pytest.mark.parametrize(
        "name",
        [
            "../x",
            "a/b/c",
            "a/..",
            "a/.",
            "-a/b",
            "a_b/c",
            "a/",
            "/b",
            "ab",
            "a b/c",
            "a/b c",
            "a/b\n",
            "o" * 40 + "/r",
            "o/" + "r" * 101,
            "é/b",
            "a/b%2f..",
            "",
        ],
    )
    def test_invalid(self, name: str) -> None:
        assert not is_valid_full_name(name)

    @given(
        owner=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9-]{0,38}", fullmatch=True),
        repo=st.from_regex(r"[A-Za-z0-9._-]{1,100}", fullmatch=True),
    )
    def test_grammar(self, owner: str, repo: str) -> None:
        assert is_valid_full_name(f"{owner}/{repo}") == (repo not in (".", ".."))

    @given(name=st.text(max_size=60))
    def test_never_accepts_path_tricks(self, name: str) -> None:
        if is_valid_full_name(name):
            owner, repo = name.split("/")
            assert repo not in (".", "..") and not owner.startswith("-")
            assert name.isascii() and name.count("/") == 1 and "\\" not in name


class TestRunnerName:
    def test_the_first_runner_of_a_job_attempt(self) -> None:
        assert runner_name(2832853555, 3) == "rod-2832853555-3"
        assert parse_runner_name("rod-2832853555-3") == RunnerName(2832853555, 3, 0)

    def test_a_retry(self) -> None:
        assert runner_name(7, 1, 2) == "rod-7-1-r2"
        assert parse_runner_name("rod-7-1-r2") == RunnerName(7, 1, 2)

    @pytest.mark.parametrize(
        "name",
        [
            "rod-0-1",
            "rod-7-0",
            "rod-7-1-r0",
            "rod-7",
            "ci-7-1",
            "rod-7-1-x1",
            f"rod-{'9' * 21}-1",
        ],
    )
    def test_names_we_never_make_are_not_ours(self, name: str) -> None:
        assert parse_runner_name(name) is None

    @given(job=st.integers(1, 2**63 - 1), attempt=st.integers(1, 10**9), retry=st.integers(0, 9999))
    def test_round_trip(self, job: int, attempt: int, retry: int) -> None:
        assert parse_runner_name(runner_name(job, attempt, retry)) == (job, attempt, retry)
