"""`POST /webhook` spoken to in raw ASGI messages: how the body arrives, and how it does not.

The answers themselves (statuses, bodies, metrics) are test_app.py's, through httpx.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import pytest

from runners_on_demand.delivery import DeliveryHeaders
from runners_on_demand.errors import MalformedDelivery, SignatureMismatch
from tests.runners_on_demand.test_app import RUNNER, Rig, delivery, job_payload, rig

Message = MutableMapping[str, Any]


def scope(headers: dict[str, str]) -> dict[str, Any]:
    raw = [(name.lower().encode(), value.encode("latin-1")) for name, value in headers.items()]
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/webhook",
        "raw_path": b"/webhook",
        "query_string": b"",
        "root_path": "",
        "headers": raw,
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8080),
    }


async def call(
    r: Rig, headers: dict[str, str], receive: Callable[[], Awaitable[Message]]
) -> list[Message]:
    """Run the app on one request; the messages it sent."""
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    await r.app(scope(headers), receive, send)
    return sent


def messages(*parts: Message) -> Callable[[], Awaitable[Message]]:
    queue = list(parts)

    async def receive() -> Message:
        if queue:
            return queue.pop(0)
        await asyncio.Event().wait()  # nothing more comes
        raise AssertionError("unreachable")

    return receive


async def test_a_body_in_chunks_is_joined_and_queued() -> None:
    body, headers = delivery(job_payload())
    chunks = [body[i : i + 1000] for i in range(0, len(body), 1000)]
    parts = [{"type": "http.request", "body": c, "more_body": True} for c in chunks]
    parts.append({"type": "http.request", "body": b"", "more_body": False})
    async with rig() as r:
        sent = await call(r, headers, messages(*parts))
        assert sent[0]["status"] == 202
        assert sent[1]["body"] == b'{"queued":"%s"}' % RUNNER.encode()
        assert (b"content-type", b"application/json") in sent[0]["headers"]


async def test_a_sender_that_hangs_up_gets_nothing_and_is_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    body, headers = delivery(job_payload())
    caplog.set_level(logging.INFO, logger="runners_on_demand.webhook_edge")
    async with rig() as r:
        sent = await call(
            r,
            headers,
            messages(
                {"type": "http.request", "body": body[:100], "more_body": True},
                {"type": "http.disconnect"},
            ),
        )
        assert sent == []
        labels = {"event": "unverified", "outcome": "disconnected"}
        assert r.metric("rod_webhooks_total", labels) == 1
        assert not r.nomad.routes[0].called
    (line,) = [m for m in caplog.messages if m.startswith("delivery ")]
    assert "outcome=disconnected status=none" in line
    assert not [rec for rec in caplog.records if rec.exc_info]


async def test_a_body_that_stops_coming_gets_408_and_closes() -> None:
    body, headers = delivery(job_payload())
    async with rig("[server]\nbody_timeout_seconds = 0.2\n") as r:
        sent = await call(
            r, headers, messages({"type": "http.request", "body": body[:100], "more_body": True})
        )
        assert sent[0]["status"] == 408
        assert (b"connection", b"close") in sent[0]["headers"]
        assert sent[1]["body"] == b'{"error":"request body not received within 0.2s"}'
        assert r.metric("rod_webhooks_total", {"event": "unverified", "outcome": "timeout"}) == 1


def held_open(part: bytes) -> tuple[Callable[[], Awaitable[Message]], asyncio.Event]:
    """A body that sends `part` and then nothing more; the event is set once it waits for more."""
    waiting = asyncio.Event()
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": part, "more_body": True}
        waiting.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    return receive, waiting


async def test_bodies_being_received_hold_at_most_max_body_bytes_total() -> None:
    # Each body is held whole until its signature can be checked: without a total, 200 unsigned
    # senders of 1 MiB held 256 MiB, the memory of the rod job in deploy/nomad/rod.nomad.hcl.
    body, headers = delivery(job_payload())
    toml = "[server]\nmax_body_bytes = 65536\nmax_body_bytes_total = 65536\n"
    async with rig(toml) as r:
        held = []
        for _ in range(4):  # 4 x 16000 bytes fit in 65536
            receive, waiting = held_open(b"x" * 16000)
            held.append(asyncio.create_task(call(r, headers, receive)))
            await waiting.wait()
        receive, waiting = held_open(b"x" * 16000)
        fifth = asyncio.create_task(call(r, headers, receive))
        await asyncio.wait(
            [fifth, asyncio.create_task(waiting.wait())], return_when="FIRST_COMPLETED"
        )
        assert fifth.done(), "the fifth body was taken in too"
        sent = fifth.result()
        assert sent[0]["status"] == 503
        assert (b"connection", b"close") in sent[0]["headers"]
        expected = b'{"error":"too many request bodies being received; redeliver later"}'
        assert sent[1]["body"] == expected
        assert r.metric("rod_webhooks_total", {"event": "unverified", "outcome": "busy"}) == 1
        for task in held:
            task.cancel()
        await asyncio.gather(*held, return_exceptions=True)
        # what they held is given back
        sent = await call(r, headers, messages({"type": "http.request", "body": body}))
        assert sent[0]["status"] == 202


async def test_a_flood_of_forged_requests_is_counted_whole_and_logged_in_two_lines(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Each refusal was one INFO line: 1,000 forged requests wrote 1,000 lines.
    body, headers = delivery(job_payload())
    caplog.set_level(logging.INFO, logger="runners_on_demand.webhook_edge")
    async with rig() as r:
        for i in range(1000):
            forged = {
                **headers,
                "X-GitHub-Delivery": f"forged-{i}",
                "X-Hub-Signature-256": "sha256=0",
            }
            sent = await call(r, forged, messages({"type": "http.request", "body": body}))
            assert sent[0]["status"] == 401
        refused = {"event": "unverified", "outcome": "bad_signature"}
        assert r.metric("rod_webhooks_total", refused) == 1000  # the metrics stay exact
        assert len(caplog.messages) == 1
    # leaving the rig shuts the app down, which writes the count still due
    assert caplog.messages == [
        "delivery forged-0 event=unverified outcome=bad_signature status=401"
        " error=X-Hub-Signature-256 does not match the body",
        "deliveries refused as bad_signature: 999 more (one such line per 60s)",
    ]


async def test_with_no_refusal_log_interval_every_refusal_is_a_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    body, headers = delivery(job_payload())
    caplog.set_level(logging.INFO, logger="runners_on_demand.webhook_edge")
    async with rig("[server]\nrefusal_log_interval_seconds = 0\n") as r:
        for _ in range(3):
            unsigned = {k: v for k, v in headers.items() if k != "X-Hub-Signature-256"}
            await call(r, unsigned, messages({"type": "http.request", "body": body}))
    assert len(caplog.messages) == 3


class TestDeliveryHeaders:
    def test_from_asgi_it_keeps_the_headers_read_and_the_first_content_length(self) -> None:
        headers = DeliveryHeaders.of(
            [
                (b"x-github-event", b"ping"),
                (b"user-agent", b"x"),
                (b"content-length", b"5"),
                (b"content-length", b"6"),
            ]
        )
        assert headers.get("x-github-event") == "ping"
        assert headers.get("content-length") == "5"
        assert headers.get("user-agent") is None
        assert headers.checked() == {"x-github-event": "ping", "content-length": "5"}

    @pytest.mark.parametrize(
        ("name", "error"),
        [("x-hub-signature-256", SignatureMismatch), ("x-github-delivery", MalformedDelivery)],
    )
    def test_a_header_read_here_sent_twice_is_refused(
        self, name: str, error: type[Exception]
    ) -> None:
        headers = DeliveryHeaders([(name.upper(), "a"), (name, "b")])
        with pytest.raises(error, match="header sent more than once"):
            headers.checked()
