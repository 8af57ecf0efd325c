"""The transport under rod's httpx clients: aiohttp's connection pool and HTTP parser.

httpx's own transport (httpcore, h11, anyio) costs about 1 ms of CPU per call; aiohttp's, put
behind httpx's transport interface by httpx-aiohttp, less than half that, measured on this
project's benchmark (README, Performance). The clients, the adapters and the tests do not
change: the tests still give the clients their own transports (MockTransport, ASGITransport),
and only a client given none gets this one.

What it keeps from httpx's default: keep-alive connections (at most `limits.max_connections`,
idle ones closed after `limits.keepalive_expiry`), the proxy environment (`HTTPS_PROXY`,
`NO_PROXY`, ...; read once, for the one upstream a transport serves, as httpx reads it when a
client is made: aiohttp's `trust_env` would read it, and `~/.netrc`, in a thread on every call,
which cost more than the call itself), certificate checks (certifi, `SSL_CERT_FILE`, or the
given SSLContext), and failures as httpx errors: whatever aiohttp raises, while connecting or
while reading an answer, reaches the adapters as an `httpx.TransportError` (a timeout as an
`httpx.TimeoutException`).
HTTP/1.1 only: aiohttp speaks no HTTP/2, and rod's calls are few at a time, over kept-alive
connections, where HTTP/2's multiplexing gains nothing (Nomad's API speaks only HTTP/1.1).
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator

import aiohttp
import httpx
from aiohttp.helpers import get_env_proxy_for_url
from httpx_aiohttp import AiohttpTransport
from yarl import URL

__all__ = ["Transport", "env_proxy"]

_FAILURES = (aiohttp.ClientError, TimeoutError, OSError)
# The httpx error for each aiohttp one, most specific first (httpx's own names for the same
# failures, so the adapters' log lines read as with httpx's transport).
_MAPPING: tuple[tuple[type[BaseException], type[httpx.TransportError]], ...] = (
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),
    (TimeoutError, httpx.ReadTimeout),  # aiohttp's ServerTimeoutError is one
    (aiohttp.ClientConnectorError, httpx.ConnectError),  # refused, no such host, TLS
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),
    (aiohttp.ClientPayloadError, httpx.ReadError),
    (aiohttp.InvalidURL, httpx.UnsupportedProtocol),
)


def _as_httpx(error: BaseException) -> httpx.TransportError:
    """An aiohttp or socket failure as the httpx error the adapters catch."""
    kind = next((to for source, to in _MAPPING if isinstance(error, source)), httpx.NetworkError)
    return kind(f"{type(error).__name__}: {error}".rstrip(": "))


def _cause(error: httpx.HTTPError) -> BaseException | None:
    """The aiohttp failure httpx-aiohttp mapped (with names of its own), if that is what it is."""
    cause = error.__cause__
    return cause if isinstance(cause, _FAILURES) else None


class _Body(httpx.AsyncByteStream):
    """An answer's body, its read failures turned into httpx errors."""

    def __init__(self, stream: httpx.AsyncByteStream) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._stream:
                yield chunk
        except httpx.HTTPError as error:
            if (cause := _cause(error)) is None:
                raise
            raise _as_httpx(cause) from cause
        except _FAILURES as error:
            raise _as_httpx(error) from error

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        except _FAILURES as error:
            raise _as_httpx(error) from error


def env_proxy(url: str) -> httpx.Proxy | None:
    """The proxy the environment names for `url` (`HTTPS_PROXY`, `NO_PROXY`, ...), if any."""
    try:
        proxy, auth = get_env_proxy_for_url(URL(url))
    except LookupError:  # none, or NO_PROXY names the host
        return None
    return httpx.Proxy(str(proxy), auth=(auth.login, auth.password) if auth else None)


class Transport(AiohttpTransport):
    """httpx-aiohttp's transport to the upstream at `url`, with the proxy the environment names
    for it and httpx errors throughout."""

    def __init__(
        self, url: str, *, verify: ssl.SSLContext | bool = True, limits: httpx.Limits
    ) -> None:
        super().__init__(verify=verify, limits=limits, proxy=env_proxy(url), client=self._session)

    def _session(self) -> aiohttp.ClientSession:
        """Made on the first call, on the loop that makes it (a session belongs to one loop)."""
        connector = aiohttp.TCPConnector(
            ssl=self.ssl_context,
            limit=self.limits.max_connections or 0,
            keepalive_timeout=self.limits.keepalive_expiry or 15.0,
        )
        return aiohttp.ClientSession(connector=connector)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """The request through aiohttp; every failure an httpx error."""
        try:
            response = await super().handle_async_request(request)
        except httpx.HTTPError as error:
            if (cause := _cause(error)) is None:
                raise
            raise _as_httpx(cause) from cause
        except _FAILURES as error:
            raise _as_httpx(error) from error
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _Body(response.stream)
        return response
