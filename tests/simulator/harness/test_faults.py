"""Faults, redelivery and forged webhooks, against the real emulators and the real parser."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from runners_on_demand.delivery import WorkflowJobEvent, parse_delivery
from runners_on_demand.errors import SignatureMismatch
from simulator.github import GitHubEmulator
from simulator.github.webhooks import sign
from simulator.harness import faults
from simulator.harness.github_client import GitHubApi, GitHubControl, ScriptedJob
from simulator.nomad import NomadEmulator

SECRET = "It's a Secret to Everybody"
TOKEN = "ghp_" + "0" * 36
REPO = "octo-org/hello-world"
FORGED = faults.ForgedWebhook(REPO, job_id=424242, labels=("self-hosted", "linux"))


class TestForgedWebhook:
    def test_signed_with_the_secret_it_is_a_queued_self_hosted_job(self) -> None:
        # So a 401 for a forgery is down to the signature alone, not a malformed body.
        body = FORGED.body()
        headers = FORGED.headers(faults.signature(SECRET, body))
        event = parse_delivery(headers, body, secret=SECRET)
        assert isinstance(event, WorkflowJobEvent)
        assert (event.action, event.job_id, event.repo_full_name) == ("queued", 424242, REPO)
        assert event.labels == ("self-hosted", "linux")

    def test_signature_matches_githubs(self) -> None:
        body = FORGED.body()
        assert faults.signature(SECRET, body) == sign(SECRET, body)[0]

    @pytest.mark.parametrize("how", sorted(faults.FORGERIES))
    def test_every_forgery_fails_verification(self, how: str) -> None:
        body = FORGED.body()
        headers = FORGED.headers(faults.FORGERIES[how](SECRET, body))
        with pytest.raises(SignatureMismatch):
            parse_delivery(headers, body, secret=SECRET)

    def test_an_unknown_forgery_is_refused(self) -> None:
        with pytest.raises(ValueError, match="choose one of"):
            faults.post_forged("http://127.0.0.1:9/webhook", SECRET, FORGED, "a smile")


@pytest.fixture(scope="module")
def github() -> Iterator[GitHubEmulator]:
    emulator = GitHubEmulator(tokens=[TOKEN]).start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def control(github: GitHubEmulator) -> Iterator[GitHubControl]:
    client = GitHubControl(github.url)
    client.reset()
    client.create_repo(REPO)
    try:
        yield client
    finally:
        client.close()


def _job_deliveries(api: GitHubApi, hook_id: int) -> list[dict[str, Any]]:
    """The hook's workflow_job deliveries, newest first (creating a hook also sends a ping)."""
    return [d for d in api.list_deliveries(REPO, hook_id) if d["event"] == "workflow_job"]


class TestGitHubFaults:
    def test_a_bad_mode_is_refused_before_any_call(self) -> None:
        with pytest.raises(ValueError, match="choose one of"):
            faults.add_webhook_fault("http://127.0.0.1:9", "explode")

    def test_cancel_makes_a_queued_job_completed_cancelled(
        self, github: GitHubEmulator, control: GitHubControl
    ) -> None:
        run = control.start_run(REPO, [ScriptedJob("build", ("self-hosted",))])
        api = GitHubApi(github.url, TOKEN)
        (job,) = api.list_run_jobs(REPO, int(run["id"]))
        cancelled = faults.cancel_job(github.url, int(job["id"]))
        assert (cancelled["status"], cancelled["conclusion"]) == ("completed", "cancelled")
        assert faults.github_calls(github.url, "GET", f"/repos/{REPO}/actions/runs/*/jobs") == 1

    def test_a_dropped_delivery_can_be_redelivered(
        self, github: GitHubEmulator, control: GitHubControl
    ) -> None:
        api = GitHubApi(github.url, TOKEN)
        # Nothing listens there: the delivery fails, but it is logged and can be sent again.
        hook = api.create_hook(REPO, "http://127.0.0.1:9/webhook", SECRET)
        faults.add_webhook_fault(github.url, "drop")
        control.start_run(REPO, [ScriptedJob("build", ("self-hosted",))])
        control.flush_deliveries(10)
        (dropped,) = _job_deliveries(api, int(hook["id"]))
        assert dropped["status_code"] == 0 and not dropped["redelivery"]
        faults.redeliver(github.url, TOKEN, REPO, int(hook["id"]), int(dropped["id"]))
        control.flush_deliveries(10)
        again, _ = _job_deliveries(api, int(hook["id"]))
        assert again["redelivery"] and again["guid"] == dropped["guid"]

    def test_redelivering_an_unknown_delivery_fails_loudly(
        self, github: GitHubEmulator, control: GitHubControl
    ) -> None:
        hook = GitHubApi(github.url, TOKEN).create_hook(REPO, "http://127.0.0.1:9/w", SECRET)
        with pytest.raises(httpx.HTTPStatusError, match="answered 404"):
            faults.redeliver(github.url, TOKEN, REPO, int(hook["id"]), 999)


class TestNomadFaults:
    def test_dispatch_fails_count_times_then_reaches_nomad(self) -> None:
        nomad = NomadEmulator(driver="inprocess").start()
        try:
            faults.add_nomad_fault(nomad.url, faults.DISPATCH_ROUTE, 2, 503)
            answers = [
                httpx.post(f"{nomad.url}/v1/job/github-runner/dispatch", json={}).status_code
                for _ in range(3)
            ]
            assert answers[:2] == [503, 503] and answers[2] != 503
            assert faults.nomad_answers(nomad.url, faults.DISPATCH_ROUTE) == answers
        finally:
            nomad.stop()
