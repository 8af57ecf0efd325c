"""Tests for runners_on_demand.payload: it reads what the standard path reads, or nothing."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runners_on_demand import delivery, payload
from runners_on_demand.errors import BadDelivery
from tests.runners_on_demand.test_delivery import deliver, sample

SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "workflow_job"
# Every field the pipeline reads, as a path into the payload.
READ = [
    ("action",),
    *(("workflow_job", key) for key in ("id", "run_id", "run_attempt", "name", "labels")),
    *(("workflow_job", key) for key in ("status", "workflow_name", "conclusion")),
    *(("workflow_job", key) for key in ("runner_id", "runner_name")),
    *(("repository", key) for key in ("full_name", "html_url", "fork", "private")),
    ("installation", "id"),
    ("workflow_job",),
    ("repository",),
    ("installation",),
]
ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([2**31 - 1, 2**31, 2**63 - 1, 2**63]),  # GitHub's bounds (names.py)
    st.floats(allow_nan=False),
    st.sampled_from(["", "acme/app", "acme", "https://github.com/acme/app", "ftp://x", "\u00e9"]),
    st.text(max_size=5),
    st.lists(st.text(max_size=3), max_size=3),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.sampled_from(["id", "x"]), st.integers(), max_size=2),
)


def outcome(document: Any, *, fast: bool, monkeypatch: pytest.MonkeyPatch) -> object:
    """The event, or the error's type and text, with or without the fast path."""
    with monkeypatch.context() as patch:
        if not fast:
            patch.setattr(delivery, "payload", None)
        try:
            return deliver(document)
        except BadDelivery as error:
            return (type(error), str(error))


def names() -> list[str]:
    return sorted(path.name for path in SAMPLES.glob("*.json"))


@pytest.mark.parametrize("name", names())
def test_every_real_example_reads_the_same_on_both_paths(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = sample(name)
    assert outcome(document, fast=True, monkeypatch=monkeypatch) == outcome(
        document, fast=False, monkeypatch=monkeypatch
    )


def test_the_fast_path_takes_a_real_example() -> None:
    fields = payload.read(json.dumps(sample("06.queued.json")))
    assert fields is not None and fields.workflow_job.labels == ["self-hosted", "k8s"]


@settings(max_examples=300, deadline=None)
@given(path=st.sampled_from(READ), value=ODD_VALUES, remove=st.booleans())
def test_any_odd_field_reads_the_same_on_both_paths(
    path: tuple[str, ...], value: object, remove: bool
) -> None:
    document = copy.deepcopy(sample("06.queued.json"))
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    if remove:
        parent.pop(path[-1], None)
    else:
        parent[path[-1]] = value
    with pytest.MonkeyPatch.context() as monkeypatch:
        fast = outcome(document, fast=True, monkeypatch=monkeypatch)
        slow = outcome(document, fast=False, monkeypatch=monkeypatch)
    assert fast == slow


@pytest.mark.parametrize(
    "text",
    [
        '{"action": "queued"} x',
        "[1]",
        "[" * 100_000,
        '{"action": NaN}',
        '{"workflow_job": {"name": "\\ud800"}}',
    ],
)
def test_what_the_fast_path_cannot_read_is_left_to_the_standard_path(text: str) -> None:
    assert payload.read(text) is None
