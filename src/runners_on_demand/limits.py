"""Connection limits at `rod serve`'s edge, for both of uvicorn's HTTP/1.1 parsers.

uvicorn arms no timer until a request's head (request line and headers) is complete, since its
keep-alive timer starts only after a response, and httptools bounds no header's size: an idle
connection, or one sending its head a byte a second, stays open for ever, and a 60 MB header is
held in memory. `protocol_class` wraps uvicorn's h11 or httptools protocol with:

- a head timeout: a connection whose next request head is not complete `header_timeout`
  seconds after it opened (or after its last response) is closed, with 408 Request Timeout
  (RFC 9110 15.5.9) when part of a head arrived;
- a head size cap, checked on the raw bytes before the parser sees them: 431 Request Header
  Fields Too Large (RFC 6585 section 5), then close;
- a cap on open connections: past `max_connections`, the connection that has waited longest for
  a request head is closed, so a flood of idle connections cannot shut GitHub out; a connection
  whose request is being handled is never closed, and when all are, the new one is refused.

A request the parser refuses gets uvicorn's 400 as one line of JSON rather than plain text.
Keep-alive between requests is uvicorn's own `timeout_keep_alive`. The wrappers touch only what
both protocols share: `connection_made`, `data_received`, `on_response_complete`,
`connection_lost`, `send_400_response`, `transport`, `connections` and `cycle`.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from runners_on_demand.deadlines import DueInOrder

__all__ = ["EdgeLimits", "head_end", "parser_protocol", "protocol_class"]


@dataclass(frozen=True)
class EdgeLimits:
    """How long a request head may take, how large it may be, how many connections at once."""

    header_timeout: float = 10.0
    max_header_bytes: int = 16 * 1024
    max_connections: int = 512


def head_end(window: bytes, limit: int) -> int:
    """Where the empty line that ends a request head ends in `window[:limit]`, or -1.

    As `re.search(rb"\r?\n\r?\n", window[:limit]).end()`, since h11 and llhttp also take bare
    LF line endings, but by two `bytes.find`s: the regex tries each byte of the head in turn,
    2.6 us for a delivery's, the finds a quarter of that.
    """
    crlf = window.find(b"\n\r\n", 0, limit)  # CRLF CRLF, or LF CRLF
    # An LF LF (bare LF line endings) ends the head first only if it starts before that one.
    lf = window.find(b"\n\n", 0, limit if crlf < 0 else crlf + 1)
    if lf >= 0:
        return lf + 2
    return crlf + 3 if crlf >= 0 else -1


def parser_protocol(name: str) -> type[asyncio.Protocol]:
    """uvicorn's protocol class for `auto` (httptools when installed), `h11` or `httptools`."""
    if name == "h11" or (name == "auto" and not _has_httptools()):
        from uvicorn.protocols.http.h11_impl import H11Protocol

        return H11Protocol
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    return HttpToolsProtocol


def _has_httptools() -> bool:
    try:
        import httptools  # noqa: F401
    except ImportError:
        return False
    return True


def protocol_class(base: type[asyncio.Protocol], limits: EdgeLimits) -> type[asyncio.Protocol]:
    """`base` (a uvicorn HTTP protocol) with the limits above, for `uvicorn.run(http=...)`."""
    # The connections awaiting a request head, with one timer for their deadlines: every head
    # has the same limit (a timer per request cost two of the loop's timer operations each).
    waiting: DueInOrder[_Limits] = DueInOrder(limits.header_timeout, _Limits._timed_out)
    namespace = {"limits": limits, "waiting": waiting}
    return type(f"Limited{base.__name__}", (_Limits, base), namespace)


class _Limits:
    """The mixin; `waiting` (per class, so per server) holds connections awaiting a head."""

    limits: EdgeLimits
    waiting: DueInOrder[_Limits]
    _head_bytes: int
    _tail: bytes
    # uvicorn's, in both protocols
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    connections: set[Any]
    cycle: Any

    def connection_made(self, transport: asyncio.Transport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._await_head()
        if len(self.connections) > self.limits.max_connections:
            # The oldest waiting for a head goes (`self` when every other has a request in
            # hand); out of `waiting` at once, as its close completes only on the next turn.
            oldest = next(iter(self.waiting))
            oldest._head_done()
            oldest.transport.close()

    def data_received(self, data: bytes) -> None:
        if self in self.waiting:
            # `_tail`: the last head bytes read, for an empty line split across two reads.
            window = self._tail + data
            cap = len(self._tail) + self.limits.max_header_bytes - self._head_bytes + 4
            end = head_end(window, cap)
            head = end - len(self._tail) if end >= 0 else len(data)
            self._head_bytes += head
            if self._head_bytes > self.limits.max_header_bytes:
                self._refuse(431, f"request head over {self.limits.max_header_bytes} bytes")
                return
            if end >= 0:
                self._head_done()
            else:
                self._tail = window[-3:]
        super().data_received(data)  # type: ignore[misc]

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        # uvicorn starts the next request at once when it came pipelined behind this one
        if not self.transport.is_closing() and not self._in_hand():
            self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_done()
        super().connection_lost(exc)  # type: ignore[misc]

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a request its parser refuses, in one line of JSON."""
        self._refuse(400, msg)

    def _in_hand(self) -> bool:
        """Whether a request is being handled on this connection."""
        return self.cycle is not None and not self.cycle.response_complete

    def _await_head(self) -> None:
        """From now on a request head is due within the timeout."""
        self._head_bytes = 0
        self._tail = b""
        self.waiting.wait(self, self.loop)

    def _head_done(self) -> None:
        self.waiting.pop(self)

    def _timed_out(self) -> None:
        """The head did not come in time: 408 if part of it did, else just close."""
        if self._in_hand():
            return
        if self._head_bytes:
            self._refuse(408, f"request head not received within {self.limits.header_timeout:g}s")
        else:
            self._head_done()
            self.transport.close()

    def _refuse(self, status: int, message: str) -> None:
        """Answer `status` with a one-line JSON error and close; the parser never sees more."""
        self._head_done()
        reason = {
            400: "Bad Request",
            408: "Request Timeout",
            431: "Request Header Fields Too Large",
        }[status]
        body = json.dumps({"error": message}).encode()
        head = (
            f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
        )
        self.transport.write(head.encode() + body)
        self.transport.close()
