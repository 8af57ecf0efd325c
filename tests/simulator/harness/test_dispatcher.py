"""`rod serve` as a child process: a scrubbed environment, and a failed start explained."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import respx

from simulator.harness.dispatcher import (
    DispatcherProcess,
    backlog,
    clean_environment,
    wait_idle,
)
from simulator.harness.errors import StackStartError, WaitTimeout


class TestCleanEnvironment:
    def test_drops_the_callers_github_and_nomad_settings(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("GITHUB_TOKEN", "ghp_real")
        monkeypatch.setenv("NOMAD_ADDR", "https://nomad.prod:4646")
        monkeypatch.setenv("HOME", "/home/me")
        env = clean_environment({"NOMAD_ADDR": "http://127.0.0.1:1"})
        assert "GITHUB_TOKEN" not in env
        assert env["NOMAD_ADDR"] == "http://127.0.0.1:1"
        assert env["HOME"] == "/home/me"


class TestStart:
    def test_a_dispatcher_that_refuses_to_start_is_reported_with_its_log(
        self, tmp_path: Path
    ) -> None:
        # No GITHUB_WEBHOOK_SECRET: `rod serve` must refuse to start.
        process = DispatcherProcess({"GITHUB_TOKEN": "t"}, tmp_path / "rod.log")
        with pytest.raises(StackStartError) as raised:
            process.start(timeout=20)
        message = str(raised.value)
        assert "rod serve exited with status 2" in message
        assert "GITHUB_WEBHOOK_SECRET is not set" in message
        assert not process.alive()


METRICS = """\
# HELP rod_webhooks_total Webhook deliveries by event and outcome.
# TYPE rod_webhooks_total counter
rod_webhooks_total{event="workflow_job",outcome="queued"} 3.0
rod_webhooks_total{event="workflow_job",outcome="ignored"} 5.0
# HELP rod_dispatches_total Dispatches by outcome.
# TYPE rod_dispatches_total counter
rod_dispatches_total{outcome="dispatched"} 1.0
rod_dispatches_total{outcome="failed"} 1.0
"""


class TestBacklog:
    def test_accepted_minus_carried_out(self) -> None:
        assert backlog(METRICS) == 1

    def test_a_fresh_dispatcher_has_none(self) -> None:
        assert backlog("rod_queue_depth 0.0\n") == 0

    def test_runners_rod_listen_queued_count_as_accepted(self) -> None:
        listening = (
            'rod_listen_runners_queued_total 4.0\nrod_dispatches_total{outcome="existing"} 1.0\n'
        )
        assert backlog(listening) == 3

    def test_runners_the_reconciler_queued_count_as_accepted(self) -> None:
        # A webhook's runner in flight while the reconciler's own was carried out: one left.
        reconciled = (
            'rod_webhooks_total{event="workflow_job",outcome="queued"} 1.0\n'
            'rod_reconcile_actions_total{action="dispatch",result="queued"} 1.0\n'
            'rod_reconcile_actions_total{action="dispatch",result="duplicate"} 4.0\n'
            'rod_reconcile_actions_total{action="retire",result="retired"} 2.0\n'
            'rod_dispatches_total{outcome="dispatched"} 1.0\n'
        )
        assert backlog(reconciled) == 1

    def test_runners_carried_out_but_never_accepted_are_below_zero(self) -> None:
        assert backlog('rod_dispatches_total{outcome="dispatched"} 2.0\n') == -2


class TestWaitIdle:
    @respx.mock
    def test_a_dispatcher_that_carried_out_a_runner_it_never_accepted_is_not_idle(self) -> None:
        # As when it answers a delivery "ignored" and dispatches a runner all the same.
        metrics = 'rod_dispatches_total{outcome="dispatched"} 1.0\n'
        respx.get("http://rod.test/metrics").mock(return_value=httpx.Response(200, text=metrics))
        with pytest.raises(WaitTimeout, match="1 more runners carried out than accepted"):
            wait_idle("http://rod.test", timeout=0.2)

    @respx.mock
    def test_every_answer_is_recorded(self) -> None:
        # One runner in flight, then none: both answers reach `record` (the scenario's tape).
        respx.get("http://rod.test/metrics").mock(
            side_effect=[httpx.Response(200, text=METRICS), httpx.Response(200, text="")]
        )
        seen: list[httpx.Response] = []

        def record(response: httpx.Response) -> httpx.Response:
            seen.append(response)
            return response

        wait_idle("http://rod.test", timeout=5, record=record)
        assert [backlog(response.text) for response in seen] == [1, 0]
