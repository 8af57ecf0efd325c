"""simulator.nomad.dispatch: the pure rules of Job.Dispatch."""

from __future__ import annotations

import re

import pytest

from simulator.nomad.dispatch import dispatched_child, dispatched_id, validate_dispatch
from simulator.nomad.errors import ServerError
from simulator.nomad.jobspec import canonicalize

from .conftest import parameterized_job

PARENT = canonicalize(parameterized_job(payload="forbidden"), "default")


class TestDispatchedId:
    def test_shape(self) -> None:
        assert re.fullmatch(r"p/dispatch-1700000000-[0-9a-f]{8}", dispatched_id("p", "", 1.7e9))
        assert re.fullmatch(r"p/dispatch-rod-1-[0-9a-f]{8}", dispatched_id("p", "rod", 1.9))


class TestValidateDispatch:
    def test_forbidden_payload(self) -> None:
        with pytest.raises(
            ServerError, match=r"^Payload provided but forbidden by parameterized job$"
        ):
            validate_dispatch(PARENT, b"x", {"need": "1"}, 0)

    def test_unpermitted_is_checked_before_missing(self) -> None:
        with pytest.raises(ServerError, match=r"unpermitted metadata keys: \[zz\]$"):
            validate_dispatch(PARENT, None, {"zz": "1"}, 0)

    def test_valid(self) -> None:
        validate_dispatch(PARENT, None, {"need": "1", "maybe": ""}, 100)


class TestDispatchedChild:
    def test_keeps_parameterized_and_merges_meta(self) -> None:
        child = dispatched_child(
            PARENT,
            payload=b"\x00\x01",
            meta={"need": "n", "team": "override"},
            id_prefix_template="",
            idempotency_token="tok",
            priority=0,
            now=1.5,
            index=9,
        )
        assert child["ParameterizedJob"] == PARENT["ParameterizedJob"]
        assert child["Dispatched"] is True and child["ParentID"] == "sim"
        assert child["Meta"] == {"team": "override", "need": "n"}
        assert child["Payload"] == "AAE=" and child["DispatchIdempotencyToken"] == "tok"
        assert child["Priority"] == 50 and child["Status"] == "pending"
        assert (child["CreateIndex"], child["SubmitTime"]) == (9, 1_500_000_000)
        assert PARENT["Meta"] == {"team": "ci"}  # the parent is untouched
