"""Signing, encoding and delivery (to a real receiving server), faults included."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import parse_qs

import pytest

from simulator.github.actions import JobSpec
from simulator.github.models import GitHubBackend
from simulator.github.webhooks import Event, Hook, WebhookFault, encode, sign
from tests.simulator.github.conftest import REPO, Receiver


class TestSign:
    def test_matches_the_github_docs_test_vector(self) -> None:
        # content/webhooks/using-webhooks/validating-webhook-deliveries.md
        sha256, sha1 = sign("It's a Secret to Everybody", b"Hello, World!")
        assert sha256 == ("sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")
        assert sha1.startswith("sha1=") and len(sha1) == 45


def _hook(content_type: str, secret: str = "") -> Hook:
    config = {"url": "http://127.0.0.1:9/hook", "content_type": content_type}
    if secret:
        config["secret"] = secret
    return Hook(7, REPO, 99, ["workflow_job"], True, config, 0.0, 0.0)


class TestEncode:
    def test_form_posts_a_urlencoded_payload_and_signs_the_raw_body(self) -> None:
        event = Event("workflow_job", "queued", {"action": "queued"}, 99, None)
        headers, body = encode(_hook("form", "s3cret"), event)
        assert headers["Content-Type"] == "application/x-www-form-urlencoded"
        assert json.loads(parse_qs(body.decode())["payload"][0]) == {"action": "queued"}
        assert headers["X-Hub-Signature-256"] == sign("s3cret", body)[0]
        assert headers["X-GitHub-Hook-Installation-Target-ID"] == "99"
        assert headers["User-Agent"].startswith("GitHub-Hookshot/")

    def test_no_secret_no_signature_headers(self) -> None:
        event = Event("ping", None, {"zen": "z"}, 99, None)
        headers, body = encode(_hook("json"), event)
        assert json.loads(body) == {"zen": "z"}
        assert "X-Hub-Signature-256" not in headers and "X-Hub-Signature" not in headers


@pytest.fixture
def backend() -> Iterator[GitHubBackend]:
    b = GitHubBackend(repos=[REPO], tokens=["t"])
    yield b
    b.close()


def _subscribe(backend: GitHubBackend, receiver: Receiver, **config: str) -> Hook:
    hook = backend.create_hook(
        "acme",
        "app",
        events=["workflow_job"],
        config={"url": receiver.url, "content_type": "json", **config},
    )
    return hook


def _queue(backend: GitHubBackend, count: int = 1) -> list[int]:
    specs = [JobSpec(name=f"j{i}", labels=["a"]) for i in range(count)]
    run = backend.create_run("acme", "app", name="CI", event="push", jobs=specs)
    return [job.id for job in run.jobs]


class TestDelivery:
    def test_ping_on_creation_then_signed_job_events(
        self, backend: GitHubBackend, receiver: Receiver
    ) -> None:
        hook = _subscribe(backend, receiver, secret="s3cret")
        (job_id,) = _queue(backend)
        assert backend.deliverer.wait_idle()
        ping, queued = receiver.received
        assert ping.headers["x-github-event"] == "ping"
        assert queued.headers["x-github-event"] == "workflow_job"
        assert queued.headers["x-github-hook-id"] == str(hook.id)
        assert queued.headers["x-hub-signature-256"] == sign("s3cret", queued.body)[0]
        assert queued.headers["x-hub-signature"] == sign("s3cret", queued.body)[1]
        assert json.loads(queued.body)["workflow_job"]["id"] == job_id
        assert [d.status for d in backend.list_deliveries("acme", "app", hook.id)] == ["OK", "OK"]

    def test_every_hook_gets_the_same_guid(
        self, backend: GitHubBackend, receiver: Receiver
    ) -> None:
        _subscribe(backend, receiver)
        backend.create_hook(
            "acme",
            "app",
            events=["workflow_job"],
            config={"url": receiver.url + "?second", "content_type": "json"},
        )
        _queue(backend)
        assert backend.deliverer.wait_idle()
        guids = {r.headers["x-github-delivery"] for r in receiver.events("workflow_job")}
        hooks = {r.headers["x-github-hook-id"] for r in receiver.events("workflow_job")}
        assert len(receiver.events("workflow_job")) == 2 and len(guids) == 1 and len(hooks) == 2

    def test_hooks_not_subscribed_or_inactive_get_nothing(
        self, backend: GitHubBackend, receiver: Receiver
    ) -> None:
        backend.create_hook("acme", "app", config={"url": receiver.url})  # events default: push
        hook = _subscribe(backend, receiver)
        backend.update_hook("acme", "app", hook.id, active=False)
        _queue(backend)
        assert backend.deliverer.wait_idle()
        assert receiver.events("workflow_job") == [] and len(receiver.events("ping")) == 2

    def test_failure_is_logged_and_never_retried(
        self, backend: GitHubBackend, receiver: Receiver
    ) -> None:
        hook = _subscribe(backend, receiver)
        assert backend.deliverer.wait_idle()  # the ping
        receiver.status = 500
        _queue(backend)
        assert backend.deliverer.wait_idle()
        newest = backend.list_deliveries("acme", "app", hook.id)[0]
        assert (newest.status, newest.status_code) == ("Invalid HTTP Response: 500", 500)
        assert len(receiver.events("workflow_job")) == 1
        assert backend.list_deliveries("acme", "app", hook.id, status="failure") == [newest]

    def test_redelivery_keeps_the_guid(self, backend: GitHubBackend, receiver: Receiver) -> None:
        hook = _subscribe(backend, receiver)
        _queue(backend)
        assert backend.deliverer.wait_idle()
        original = backend.list_deliveries("acme", "app", hook.id)[0]
        again = backend.redeliver("acme", "app", hook.id, original.id)
        assert backend.deliverer.wait_idle()
        first, second = receiver.events("workflow_job")
        assert first.headers["x-github-delivery"] == second.headers["x-github-delivery"]
        assert again.redelivery and again.event.guid == original.event.guid

    def test_no_answer_within_the_timeout_is_a_failure(
        self, backend: GitHubBackend, receiver: Receiver
    ) -> None:
        backend.deliverer.timeout = 0.2  # GitHub waits 10 s
        hook = _subscribe(backend, receiver)
        assert backend.deliverer.wait_idle()
        receiver.delay = 1.0
        _queue(backend)
        assert backend.deliverer.wait_idle()
        newest = backend.list_deliveries("acme", "app", hook.id)[0]
        assert (newest.status, newest.status_code) == ("timed out", 0)
        assert hook.last_response["status"] == "failed"


class TestFaults:
    def test_drop_logs_a_failure_and_sends_nothing(
        self, backend: GitHubBackend, receiver: Receiver
    ) -> None:
        hook = _subscribe(backend, receiver)
        backend.add_webhook_fault(WebhookFault("drop"))
        _queue(backend)
        assert backend.deliverer.wait_idle()
        assert receiver.events("workflow_job") == []
        assert backend.list_deliveries("acme", "app", hook.id)[0].status != "OK"

    def test_duplicate_sends_the_same_guid_twice(
        self, backend: GitHubBackend, receiver: Receiver
    ) -> None:
        _subscribe(backend, receiver)
        backend.add_webhook_fault(WebhookFault("duplicate"))
        _queue(backend)
        assert backend.deliverer.wait_idle()
        got = receiver.events("workflow_job")
        assert len(got) == 2
        assert got[0].headers["x-github-delivery"] == got[1].headers["x-github-delivery"]

    def test_duplicate_with_copies_sends_that_many(
        self, backend: GitHubBackend, receiver: Receiver
    ) -> None:
        _subscribe(backend, receiver)
        backend.add_webhook_fault(WebhookFault("duplicate", copies=3))
        _queue(backend)
        assert backend.deliverer.wait_idle()
        got = receiver.events("workflow_job")
        assert len(got) == 3
        assert len({event.headers["x-github-delivery"] for event in got}) == 1

    def test_copies_out_of_range_are_refused(self, backend: GitHubBackend) -> None:
        with pytest.raises(ValueError, match="copies"):
            backend.add_webhook_fault(WebhookFault("duplicate", copies=1))

    def test_reorder_swaps_the_next_two(self, backend: GitHubBackend, receiver: Receiver) -> None:
        _subscribe(backend, receiver)
        backend.deliverer.wait_idle()
        backend.add_webhook_fault(WebhookFault("reorder", delay_seconds=5))
        first, second = _queue(backend, 2)
        assert backend.deliverer.wait_idle()
        assert [p["workflow_job"]["id"] for p in receiver.payloads()] == [second, first]

    def test_delay_lets_later_events_overtake(
        self, backend: GitHubBackend, receiver: Receiver
    ) -> None:
        _subscribe(backend, receiver)
        backend.deliverer.wait_idle()
        backend.add_webhook_fault(WebhookFault("delay", delay_seconds=0.3))
        first, second = _queue(backend, 2)
        assert backend.deliverer.wait_idle()
        assert [p["workflow_job"]["id"] for p in receiver.payloads()] == [second, first]

    def test_unknown_mode_is_refused(self, backend: GitHubBackend) -> None:
        with pytest.raises(ValueError, match="mode must be one of"):
            backend.add_webhook_fault(WebhookFault("explode"))
