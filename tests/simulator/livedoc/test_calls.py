"""simulator.livedoc.calls: callers from real signals, step bands, arrows numbered in order."""

from __future__ import annotations

from typing import Any

import pytest

from simulator.livedoc.calls import Call, build_calls, caller_of, checks_summary, step_of


def raw(**fields: Any) -> dict[str, Any]:
    call = {
        "source": "github",
        "to": "github",
        "method": "GET",
        "path": "/rate_limit",
        "query": "",
        "status": 200,
        "started": 100.0,
        "ended": 100.1,
        "user_agent": "",
        "control": False,
        "detail": "",
    }
    call |= fields
    if "ended" not in fields:
        call["ended"] = float(call["started"]) + 0.1
    return call


class TestCallerOf:
    @pytest.mark.parametrize(
        ("fields", "caller"),
        [
            ({"user_agent": "runners-on-demand/0.1.0"}, "rod"),
            ({"user_agent": "runners-on-demand-acceptance"}, "harness"),
            ({"user_agent": "rod-sim-runner/0.1"}, "runner"),
            ({"user_agent": "python-httpx/0.28.1", "control": True}, "harness"),
            ({"source": "harness", "user_agent": "GitHub-Hookshot/forged"}, "harness"),
            ({"source": "webhooks", "user_agent": ""}, "webhooks"),
            ({"user_agent": "curl/8.0"}, "other"),
        ],
    )
    def test_by_log_control_flag_then_user_agent(self, fields: dict[str, Any], caller: str) -> None:
        assert caller_of(raw(**fields)) == caller


class TestStepOf:
    MARKS = [(10.0, 11.0), (11.5, 12.0), (None, None)]

    @pytest.mark.parametrize(
        ("started", "step"),
        [(9.0, -1), (10.0, 0), (11.2, 0), (11.5, 1), (12.0, 1), (12.5, 3)],
    )
    def test_bands(self, started: float, step: int) -> None:
        # A step that never ran (None) gets no band; after the last one that ran: len(marks).
        assert step_of(started, self.MARKS) == step

    def test_no_step_ran(self) -> None:
        assert step_of(5.0, [(None, None)]) == -1


class TestBuildCalls:
    def test_kinds_numbers_and_times(self) -> None:
        calls = build_calls(
            [
                raw(started=103.0, user_agent="runners-on-demand-acceptance"),
                raw(started=101.0, user_agent="runners-on-demand/0.1.0", method="POST"),
                raw(started=102.0, source="webhooks", to="rod", sent=False, status=0),
                raw(started=104.0, user_agent="runners-on-demand/0.1.0", status=503),
            ],
            [(100.5, 110.0)],
            begun=100.0,
        )
        assert [(c.kind, c.number) for c in calls] == [
            ("act", 1),
            ("unsent", None),
            ("check", None),
            ("act", 2),
        ]
        assert calls[0].started == pytest.approx(1.0)
        assert calls[0].duration == pytest.approx(0.1)
        assert calls[3].failed and not calls[0].failed
        assert calls[1].status_text == "not sent"

    def test_masks_credential_shapes_again(self) -> None:
        (call,) = build_calls(
            [raw(query="access_token=abc", user_agent="Bearer abcdefghijkl", path="/x")], [], 0
        )
        assert call.query == "access_token=[redacted]"
        assert "abcdefghijkl" not in call.user_agent


class TestLabels:
    def test_short_path_hides_the_repository_and_long_ids(self) -> None:
        call = Call(
            "rod",
            "nomad",
            "GET",
            "/v1/job/github-runner/dispatch-1795921672-5ab8f2a3/allocations",
            "",
            200,
            0,
            0,
            "",
            "",
            "act",
            0,
        )
        assert call.short_path == "/v1/job/github-runner/dispatch-…5ab8f2a3/allocations"
        repo = Call(
            "rod",
            "github",
            "POST",
            "/repos/o/r/actions/runners/generate-jitconfig",
            "",
            201,
            0,
            0,
            "",
            "",
            "act",
            0,
        )
        assert repo.short_path == "/…/actions/runners/generate-jitconfig"
        session = Call(
            "runner",
            "github",
            "GET",
            "/_actions/sessions/7d60b6c2c431663e4a39d5d5e82e78c4/job",
            "",
            200,
            0,
            0,
            "",
            "",
            "act",
            0,
        )
        assert session.short_path == "/_actions/sessions/7d60b6c2…/job"

    def test_label_puts_what_a_call_carried_on_lines_of_its_own(self) -> None:
        call = Call(
            "webhooks",
            "rod",
            "POST",
            "/webhook",
            "",
            202,
            0,
            0,
            "",
            "workflow_job queued · job 7",
            "act",
            0,
        )
        assert call.label() == "POST /webhook · 202\nworkflow_job queued\njob 7"

    def test_checks_summary_groups_one_steps_reads(self) -> None:
        check = Call(
            "harness",
            "github",
            "GET",
            "/repos/o/r/actions/runners",
            "",
            200,
            0,
            0,
            "",
            "",
            "check",
            1,
        )
        other = Call("harness", "nomad", "GET", "/v1/jobs", "", 200, 0, 0, "", "", "check", 2)
        assert checks_summary([check, check, other], 1) == ["2 \u00d7 GET /…/actions/runners (200)"]
