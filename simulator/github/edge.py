"""The HTTP edge of the REST API: versions, User-Agent, auth, rate limit, errors, pagination.

Facts relied on (github/docs content/rest/...):
- no `X-GitHub-Api-Version` means 2022-11-28; 2026-03-10 is the newer version; a version that
  was never released answers 400 (a retired one would answer 410 Gone; none is retired yet);
  the chosen version is echoed in `x-github-api-version-selected`;
- a request without a User-Agent is refused with 403 and a plain-text body;
- `x-ratelimit-*` headers on every response (but a secondary limit's refusal, secondary.py);
  `per_page` at most 100; a `link` header with
  rel next/prev/first/last, absent when everything fits on one page; hook deliveries page by
  `cursor` instead (`?cursor=v1_<delivery id>`, only rel="next"), ignoring `page`;
- a GET answer carries an `etag` (GitHub's is weak, and differs per credential); a request whose
  `If-None-Match` holds it gets 304 Not Modified with no body, which "does not count against
  your primary rate limit if ... made while correctly authorized" (rest/using-the-rest-api/
  best-practices-for-using-the-rest-api#use-conditional-requests-if-appropriate).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from simulator.github.auth import Principal
from simulator.github.errors import BadRequest, GitHubSimError, NotFound, ValidationFailed
from simulator.github.models import GitHubBackend
from simulator.github.secondary import Ticket

DEFAULT_VERSION = "2022-11-28"
SUPPORTED_VERSIONS = ("2022-11-28", "2026-03-10")
VERSIONS_DOC = "https://docs.github.com/rest/about-the-rest-api/api-versions"
NO_USER_AGENT = (
    "Request forbidden by administrative rules. Please make sure your request has a User-Agent "
    "header (https://docs.github.com/en/rest/overview/resources-in-the-rest-api#user-agent-required)."
    " Check https://developer.github.com for other possible causes.\n"
)

Handler = Callable[[Request, GitHubBackend, Principal], Awaitable[Response]]
T = TypeVar("T")


def error_response(error: GitHubSimError, headers: dict[str, str] | None = None) -> JSONResponse:
    """GitHub's JSON error body with the error's status (and the headers it adds)."""
    headers = {**(headers or {}), **error.headers()}
    return JSONResponse(error.body(), status_code=error.status, headers=headers)


def endpoint(
    *, app: bool = False, charge: bool = True, admin: bool = False
) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    """Wrap a handler with GitHub's edge; `app=True` wants an App JWT; `charge=False` is free;
    `admin=True` answers 404 to a token without admin rights, as GitHub hides what a caller
    may not administer."""

    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        @functools.wraps(handler)  # the route keeps the operation's name
        async def run(request: Request) -> Response:
            backend: GitHubBackend = request.app.state.backend
            if not request.headers.get("user-agent"):
                return PlainTextResponse(NO_USER_AGENT, status_code=403)
            version = request.headers.get("x-github-api-version", DEFAULT_VERSION)
            request.state.api_version = version
            headers = {
                "x-github-api-version-selected": version,
                "x-github-media-type": "github.v3; format=json",
                "x-github-request-id": uuid.uuid4().hex[:20].upper(),
            }
            principal: Principal | None = None
            ticket: Ticket | None = None
            try:
                if version not in SUPPORTED_VERSIONS:
                    del headers["x-github-api-version-selected"]
                    raise BadRequest(
                        f"The version you specified ({version}) is not a supported version.",
                        documentation_url=VERSIONS_DOC,
                    )
                try:
                    principal = backend.authenticate(request.headers.get("authorization"), app=app)
                except GitHubSimError:
                    _meter(backend, None, charge, headers)
                    raise
                # Refused by a secondary limit: no x-ratelimit-* headers, no primary charge.
                ticket = backend.secondary.enter(
                    principal.key,
                    request.method,
                    request.scope["route"].path,
                    backend.clock.now(),
                    headers["x-github-request-id"],
                )
                _meter(backend, principal, charge, headers)
                if admin and not principal.admin:
                    raise NotFound()
                response = await handler(request, backend, principal)
            except GitHubSimError as error:
                return error_response(error, headers)
            finally:
                backend.secondary.leave(ticket)
            if request.method == "GET" and response.status_code == 200:
                response = _conditional(request, backend, principal, charge, response, headers)
            response.headers.update(headers)
            return response

        return run

    return wrap


def breaking(request: Request) -> bool:
    """True when the caller chose 2026-03-10, whose breaking changes the handler applies."""
    return bool(request.state.api_version == "2026-03-10")


def _meter(
    backend: GitHubBackend, principal: Principal | None, charge: bool, headers: dict[str, str]
) -> None:
    """Count the request against its rate-limit window and add the x-ratelimit-* headers."""
    with backend.lock:
        window = backend.credentials.window(principal)
        try:
            if charge:
                backend.credentials.charge(principal)
        finally:
            headers |= window.headers()


def _conditional(
    request: Request,
    backend: GitHubBackend,
    principal: Principal | None,
    charged: bool,
    response: Response,
    headers: dict[str, str],
) -> Response:
    """Add the ETag; answer 304 (refunding an authorized caller) when If-None-Match holds it."""
    owner = principal.key if principal else "anonymous"
    etag = f'W/"{hashlib.sha256(owner.encode() + b" " + bytes(response.body)).hexdigest()}"'
    headers["etag"] = etag
    wanted = {
        tag.strip().removeprefix("W/")
        for tag in request.headers.get("if-none-match", "").split(",")
    }
    if not wanted & {"*", etag.removeprefix("W/")}:
        return response
    if principal is not None and charged:
        with backend.lock:
            backend.credentials.refund(principal)
            headers |= backend.credentials.window(principal).headers()
    kept = {k: v for k, v in response.headers.items() if k == "link"}
    return Response(status_code=304, headers=kept)


async def json_body(request: Request) -> dict[str, Any]:
    """The JSON object in the request body ({} when empty); 400 when it is not JSON."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise BadRequest("Problems parsing JSON") from exc
    if not isinstance(body, dict):
        raise BadRequest("Problems parsing JSON")
    return body


def require(body: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    """A required body field of a given type, or GitHub's 422 wording."""
    if name not in body:
        raise ValidationFailed(f'Invalid request.\n\n"{name}" wasn\'t supplied.')
    value = body[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValidationFailed(f"Invalid request.\n\nFor '{name}', {value!r} is not a valid value.")
    return value


def int_param(request: Request, name: str, default: int) -> int:
    """A positive integer query parameter."""
    raw = request.query_params.get(name)
    try:
        value = int(raw) if raw is not None else default
    except ValueError:
        value = default
    return max(value, 1)


def path_int(request: Request, name: str) -> int:
    """An integer path parameter (the route only matches digits)."""
    value: int = request.path_params[name]
    return value


def paginate(request: Request, items: Sequence[T]) -> tuple[list[T], dict[str, str]]:
    """One page of `items` and, when there is more than one page, GitHub's `link` header."""
    per_page = min(int_param(request, "per_page", 30), 100)
    page = int_param(request, "page", 1)
    last = max(math.ceil(len(items) / per_page), 1)
    chunk = list(items[(page - 1) * per_page : page * per_page])
    if last == 1:
        return chunk, {}

    def link(number: int, rel: str) -> str:
        query = dict(request.query_params) | {"per_page": str(per_page), "page": str(number)}
        return f'<{str(request.url).split("?")[0]}?{urlencode(query)}>; rel="{rel}"'

    rels = []
    if page > 1:
        rels += [link(min(page - 1, last), "prev"), link(1, "first")]
    if page < last:
        rels += [link(page + 1, "next"), link(last, "last")]
    return chunk, {"link": ", ".join(rels)}


def paginate_by_cursor(
    request: Request, items: Sequence[T], key: Callable[[T], int]
) -> tuple[list[T], dict[str, str]]:
    """One page of `items` starting at `cursor` (`v1_<key>`), and rel="next" while more remain."""
    per_page = min(int_param(request, "per_page", 30), 100)
    cursor = request.query_params.get("cursor")
    cursors = [f"v1_{key(item)}" for item in items]
    start = (cursors.index(cursor) if cursor in cursors else len(items)) if cursor else 0
    chunk = list(items[start : start + per_page])
    if start + per_page >= len(items):
        return chunk, {}
    query = {k: v for k, v in request.query_params.items() if k != "page"}
    query |= {"per_page": str(per_page), "cursor": cursors[start + per_page]}
    return chunk, {"link": f'<{str(request.url).split("?")[0]}?{urlencode(query)}>; rel="next"'}
