"""A delivery that arrives whole is answered in uvicorn's httptools protocol, without ASGI.

uvicorn hands each request to the app as an asyncio task that receives the body and sends the
answer in ASGI messages: a task, an event, a request-response cycle and four awaits per request,
about 35 us under uvloop, as much as the signature check, the decode and the decision together.
A webhook delivery is small and comes in one write, and once its body is in hand nothing in
answering it waits (`WebhookEdge.answer_whole`). So for `POST /webhook` over HTTP/1.1, with no
request of the connection still being answered, the protocol keeps the body itself, and when the
message completes within the same read it writes the answer there: the status line and headers
uvicorn would write (its default `server` and `date`, the length, the type, `connection: close`
when the sender asked), then the keep-alive as after any response. A body still incomplete at
the end of the read, or over `max_body_bytes`, goes to the ASGI app after all, with what has
come so far, and so does every other request; h11's protocol has no such path. The answers are
the same either way (tests/runners_on_demand/test_whole_delivery.py).
"""

from __future__ import annotations

import asyncio
from typing import Any

from runners_on_demand.webhook_edge import WebhookEdge

__all__ = ["whole_deliveries"]


def whole_deliveries(protocol: type[asyncio.Protocol], edge: WebhookEdge) -> type[asyncio.Protocol]:
    """`protocol` answering whole deliveries itself when it is uvicorn's httptools protocol
    (limits.py's class of it included); else `protocol` unchanged."""
    try:
        from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
    except ImportError:  # no httptools: h11 only
        return protocol
    if not issubclass(protocol, HttpToolsProtocol):
        return protocol
    namespace = {"edge": edge, "status_lines": STATUS_LINE}
    return type(f"Whole{protocol.__name__}", (_Whole, protocol), namespace)


_UNANSWERED: list[bytes] = []  # the body of a request that gets no answer (never appended to)


class _Whole:
    """The mixin; `_body` holds the chunks of a delivery taken here until it is complete."""

    edge: WebhookEdge
    status_lines: dict[int, bytes]  # uvicorn's: b"HTTP/1.1 202 Accepted\r\n" and so on
    _body: list[bytes] | None = None
    _size = 0
    # uvicorn's HttpToolsProtocol's
    url: bytes
    parser: Any
    headers: list[tuple[bytes, bytes]]
    expect_100_continue: bool
    cycle: Any
    transport: asyncio.Transport
    server_state: Any
    on_response_complete: Any

    def data_received(self, data: bytes) -> None:
        super().data_received(data)  # type: ignore[misc]
        if self._body is not None and self._body is not _UNANSWERED:
            self._to_app()  # the rest of the body comes in a later read

    def on_headers_complete(self) -> None:
        if self.transport.is_closing():  # a request behind `connection: close`: never answered
            self._body, self._size = _UNANSWERED, 0
        elif self._takes():
            self._body, self._size = [], 0
        else:
            super().on_headers_complete()  # type: ignore[misc]

    def on_body(self, body: bytes) -> None:
        if self._body is None:
            super().on_body(body)  # type: ignore[misc]
            return
        if self._body is _UNANSWERED:
            return
        self._body.append(body)
        self._size += len(body)
        if self._size > self.edge.max_body_bytes:
            self._to_app()  # which answers 413

    def on_message_complete(self) -> None:
        if self._body is None:
            super().on_message_complete()  # type: ignore[misc]
            return
        chunks, self._body = self._body, None
        if chunks is not _UNANSWERED:
            self._answer(b"".join(chunks))

    def _takes(self) -> bool:
        """Whether this request is a delivery this protocol may answer itself."""
        parser = self.parser
        if self.url != b"/webhook" or parser.get_method() != b"POST":
            return False
        if parser.get_http_version() != "1.1" or parser.should_upgrade():
            return False
        if self.expect_100_continue:
            return False
        if self.cycle is not None and not self.cycle.response_complete:
            return False  # answers go in the order asked: this one after the app's
        for name, value in self.headers:
            if name == b"content-length":
                return value.isdigit() and int(value) <= self.edge.max_body_bytes
        return True  # chunked: the size is checked as it comes

    def _to_app(self) -> None:
        """Hand the request to the ASGI app after all, with the body so far."""
        chunks, self._body = self._body, None
        super().on_headers_complete()  # type: ignore[misc]
        if chunks:
            super().on_body(b"".join(chunks))  # type: ignore[misc]

    def _answer(self, body: bytes) -> None:
        """Write the edge's answer as uvicorn's `send` would, then go on as after a response."""
        answer = self.edge.answer_whole(self.headers, body)
        keep_alive = self.parser.should_keep_alive()
        content = [self.status_lines[answer.status]]
        for name, value in self.server_state.default_headers:
            content += [name, b": ", value, b"\r\n"]
        content.append(
            b"content-length: %d\r\ncontent-type: application/json\r\n" % len(answer.body)
        )
        if not keep_alive:
            content.append(b"connection: close\r\n")
        content += [b"\r\n", answer.body]
        self.transport.write(b"".join(content))
        if not keep_alive:
            self.transport.close()
        self.on_response_complete()
