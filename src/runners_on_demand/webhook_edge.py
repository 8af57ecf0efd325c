"""`POST /webhook` as a plain ASGI app: verify, decide, queue, answer.

A verified `workflow_job` delivery becomes the pipeline's event (`delivery.parse_delivery`) and
is offered to the pipeline (`pipeline.Pipeline.offer`); the answer says what the pipeline did,
before GitHub or Nomad are called. Every delivery goes through here, so it is written against
ASGI itself rather than Starlette's request and response objects, which cost as much per
delivery as the signature check and the parse together (README, Performance); app.py hands it
`POST /webhook` before Starlette's routing. Once the body is in hand nothing here awaits
(`answer_whole`), so `rod serve`'s httptools protocol answers a delivery that arrived whole
itself, without an ASGI request (whole_delivery.py); the answers are the same.

HTTP status codes are chosen here from the errors' `status_hint`. Every error body is one line
of JSON, `{"error": "..."}`; nothing ever answers with a stack trace. Refused requests are logged
quietly (edge_log.py).
"""

from __future__ import annotations

import json
import logging
import re
from typing import NamedTuple

from starlette.types import Receive, Scope, Send

from runners_on_demand.config import Settings
from runners_on_demand.deadlines import Deadlines
from runners_on_demand.decision import Ignore
from runners_on_demand.delivery import Delivery, DeliveryHeaders, OtherEvent, Ping, parse_delivery
from runners_on_demand.edge_log import LINE, EdgeLog
from runners_on_demand.errors import BadDelivery, BodyTooLarge, MalformedDelivery, SignatureMismatch
from runners_on_demand.intake_first import IntakeFirst
from runners_on_demand.metrics import Metrics
from runners_on_demand.pipeline import Admission, Pipeline

__all__ = ["Answer", "WebhookEdge", "error_body"]

log = logging.getLogger(__name__)

# What a delivery id may look like in a log line (GitHub's are UUIDs); anything else is masked,
# since the header arrives before the signature is checked.
_DELIVERY_ID = re.compile(r"[0-9A-Za-z-]{1,64}")
_OUTCOMES: dict[type[BadDelivery], str] = {
    SignatureMismatch: "bad_signature",
    BodyTooLarge: "too_large",
    MalformedDelivery: "malformed",
}
# Outcomes of a request refused before (or instead of) a verified delivery: logged quietly.
_REFUSED = frozenset(("bad_signature", "bad_request", "too_large", "malformed", "timeout", "busy",
                      "disconnected"))  # fmt: skip
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))  # as Starlette's JSONResponse


class _ClientGone(Exception):
    """The sender hung up before its body arrived in full."""


class _Busy(Exception):
    """The bodies being received already hold `max_body_bytes_total`."""


class Answer(NamedTuple):
    """A webhook's answer plus what the metrics and the delivery log line say about it."""

    status: int
    body: bytes
    event: str
    outcome: str = "error"
    detail: str = ""


def error_body(message: str) -> bytes:
    """`{"error": message}` on one line."""
    return _JSON.encode({"error": " ".join(message.split())}).encode()


class WebhookEdge:
    """The ASGI app for `POST /webhook`, sharing the pipeline and the metrics registry."""

    def __init__(
        self, settings: Settings, pipeline: Pipeline, metrics: Metrics, intake: IntakeFirst
    ) -> None:
        self._secret = settings.webhook_secret
        self._previous = settings.webhook_secret_previous  # "" outside a rotation
        self._cap = settings.server.max_body_bytes
        self._total = max(settings.server.max_body_bytes_total, self._cap)
        self._held = 0  # bytes of the bodies being received, all requests together
        self._body_deadlines = Deadlines(settings.server.body_timeout_seconds)
        self._pipeline = pipeline
        self._metrics = metrics
        self._intake = intake
        self.quiet_log = EdgeLog(
            log, settings.server.refusal_log_interval_seconds, pipeline.monotonic
        )

    @property
    def max_body_bytes(self) -> int:
        """The largest body a delivery may have (`[server] max_body_bytes`)."""
        return self._cap

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one delivery; while it is answered, outbound calls wait (intake_first.py)."""
        with self._intake.answering():
            started = self._pipeline.monotonic()
            headers = DeliveryHeaders.of(scope["headers"])
            answer = await self._read_and_answer(headers, receive, started)
            if answer.status:
                # the rest of the body is unread: close, else uvicorn drains it for the sender
                close = answer.outcome in ("timeout", "too_large", "busy")
                await _respond(send, answer.status, answer.body, close=close)
            self._count(answer, started)
        self._log(headers, answer)

    def answer_whole(self, raw_headers: list[tuple[bytes, bytes]], body: bytes) -> Answer:
        """Answer a delivery whose body is all in hand, counted and logged, without awaiting
        (whole_delivery.py: uvicorn's protocol writes the answer)."""
        with self._intake.answering():
            started = self._pipeline.monotonic()
            headers = DeliveryHeaders.of(raw_headers)
            answer = self._answer(headers, body, started)
            self._count(answer, started)
        self._log(headers, answer)
        return answer

    async def _read_and_answer(
        self, headers: DeliveryHeaders, receive: Receive, started: float
    ) -> Answer:
        # A body trickled in slowly would hold a connection open indefinitely: 408 Request
        # Timeout (RFC 9110 section 15.5.9) once it has taken longer than the configured limit.
        try:
            body = await self._body_deadlines.within(self._read_body(headers, receive))
        except TimeoutError:
            limit = self._body_deadlines.limit
            body = error_body(f"request body not received within {limit:g}s")
            return Answer(408, body, "unverified", "timeout", " error=body timeout")
        except BadDelivery as error:
            return _refused(error, headers)
        except _ClientGone:
            return Answer(0, b"", "unverified", "disconnected", " error=sender hung up")
        except _Busy:
            body = error_body("too many request bodies being received; redeliver later")
            return Answer(503, body, "unverified", "busy", " error=max_body_bytes_total")
        except Exception:
            return _internal_error(headers)
        return self._answer(headers, body, started)

    def _answer(self, headers: DeliveryHeaders, body: bytes, started: float) -> Answer:
        """What to answer a delivery whose body is in hand; the pipeline has it if it queued."""
        try:
            try:
                parsed = parse_delivery(headers, body, secret=self._secret)
            except SignatureMismatch:
                if not self._previous:
                    raise
                parsed = self._signed_with_previous(headers, body)
            if isinstance(parsed, Ping):
                return Answer(200, b'{"pong":true}', "ping", "pong")
            if isinstance(parsed, OtherEvent):
                return self._ignored(parsed.event, f"event:{parsed.event}", "")
            offered = self._pipeline.offer(parsed, received_at=started)
        except BadDelivery as error:
            return _refused(error, headers)
        except Exception:
            return _internal_error(headers)
        detail = ""
        if log.isEnabledFor(logging.INFO):  # the delivery's log line; skipped at warning
            detail = (
                f" action={parsed.action} repo={parsed.repo_full_name} job={parsed.job_id}"
                f" attempt={parsed.run_attempt}"
            )
        if isinstance(offered, Ignore):
            return self._ignored(parsed.event, offered.reason, detail)
        name = offered.start.runner_name
        if detail:
            detail += f" runner={name} pool={offered.start.pool.name}"
        if offered.admission is Admission.FULL:
            body = error_body("dispatch queue is full; redeliver this delivery later")
            return Answer(503, body, parsed.event, "queue_full", detail)
        # {"queued": "rod-1-1"}; runner names are made of [a-z0-9-] (names.runner_name).
        key = offered.admission.value
        return Answer(202, f'{{"{key}":"{name}"}}'.encode(), parsed.event, key, detail)

    def _log(self, headers: DeliveryHeaders, answer: Answer) -> None:
        """The delivery's log line (info); refusals go to the quiet log."""
        if answer.outcome in _REFUSED:
            delivery = _loggable(headers.get("x-github-delivery", "-"))
            status = answer.status or "none"
            self.quiet_log.refused(delivery, answer.event, answer.outcome, status, answer.detail)
        elif log.isEnabledFor(logging.INFO):
            log.info(
                LINE,
                _loggable(headers.get("x-github-delivery", "-")),
                answer.event,
                answer.outcome,
                answer.status or "none",
                answer.detail,
            )

    def _signed_with_previous(self, headers: DeliveryHeaders, body: bytes) -> Delivery:
        """The delivery, if GITHUB_WEBHOOK_SECRET_PREVIOUS signed it; counted, logged quietly."""
        try:
            parsed = parse_delivery(headers, body, secret=self._previous)
        except SignatureMismatch:
            raise
        except BadDelivery:  # signed with it all the same
            self._previous_used(headers)
            raise
        self._previous_used(headers)
        return parsed

    def _previous_used(self, headers: DeliveryHeaders) -> None:
        self._metrics.previous_secret.inc()
        self.quiet_log.previous_secret(_loggable(headers.get("x-github-delivery", "-")))

    def _count(self, answer: Answer, started: float) -> None:
        """The delivery's metrics: its outcome, and the time to acknowledge it."""
        self._metrics.count_webhook(answer.event, answer.outcome)
        self._metrics.observe_ack(self._pipeline.monotonic() - started)

    def _ignored(self, event: str, reason: str, detail: str) -> Answer:
        """2xx with the reason, counted by reason."""
        self._metrics.count_ignored(reason)
        body = _JSON.encode({"ignored": reason}).encode()
        return Answer(202, body, event, "ignored", f"{detail} reason={reason}")

    async def _read_body(self, headers: DeliveryHeaders, receive: Receive) -> bytes:
        """The body, refused with BodyTooLarge as soon as it passes the cap (never read whole)."""
        cap = self._cap
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                raise BadDelivery("Content-Length is not a number")  # unsigned: not "malformed"
            if int(declared) > cap:
                raise BodyTooLarge(f"body of {int(declared)} bytes is over the {cap}-byte limit")
        chunks: list[bytes] = []
        size = held = 0
        try:
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    raise _ClientGone
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > cap:
                    raise BodyTooLarge(f"body is over the {cap}-byte limit")
                if self._held + len(chunk) > self._total:
                    raise _Busy
                self._held += len(chunk)
                held = size
                chunks.append(chunk)
                if not message.get("more_body", False):
                    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
        finally:
            self._held -= held


def _refused(error: BadDelivery, headers: DeliveryHeaders) -> Answer:
    """The answer to a delivery refused as `error`."""
    # A malformed body came with a good signature, so its event header can be trusted.
    event = "unverified"
    if isinstance(error, MalformedDelivery):
        event = headers.get("x-github-event", "unknown")[:64] or "unknown"
    outcome = _OUTCOMES.get(type(error), "bad_request")
    return Answer(error.status_hint, error_body(str(error)), event, outcome, f" error={error}")


def _internal_error(headers: DeliveryHeaders) -> Answer:
    """A 500, the traceback in the log only."""
    log.exception("delivery %s: unexpected error", _loggable(headers.get("x-github-delivery", "-")))
    return Answer(500, error_body("internal error; see the dispatcher's log"), "unknown")


async def _respond(send: Send, status: int, body: bytes, *, close: bool) -> None:
    """A JSON answer, then the connection closes if `close`."""
    headers = [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _loggable(delivery_id: str) -> str:
    """A delivery id fit for a log line: as sent when it looks like one, else masked."""
    if _DELIVERY_ID.fullmatch(delivery_id):
        return delivery_id
    return "unreadable:" + re.sub(r"[^0-9A-Za-z-]", "?", delivery_id[:64])
