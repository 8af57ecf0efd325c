"""What every handler of the emulated HTTP API shares: tokens, bodies, replies, blocking."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from simulator.nomad.acl import Caller
from simulator.nomad.errors import BadRequest, NomadSimError, PermissionDenied
from simulator.nomad.jobspec import duration_ns
from simulator.nomad.models import NomadBackend

_GO_TYPE = {str: "string", int: "number", float: "number", bool: "bool", list: "array"}
_GO_TYPE[dict] = "object"


def go_type(value: Any) -> str:
    """The JSON type name encoding/json puts in an UnmarshalTypeError."""
    return "null" if value is None else _GO_TYPE.get(type(value), "value")


_B64_ALPHABET = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
_CRLF = frozenset(b"\r\n")


def go_base64(text: str) -> bytes:
    """encoding/json's []byte: base64.StdEncoding, which skips CR and LF; anything else it refuses
    raises ValueError with Go's `illegal base64 data at input byte N` (encoding/base64
    `decodeQuantum`, whose N this walk reproduces)."""
    src = text.encode()
    clean = bytes(c for c in src if c not in _CRLF)

    def corrupt(at: int) -> ValueError:
        return ValueError(f"illegal base64 data at input byte {at}")

    si = 0
    while True:  # one 4-character quantum per turn
        j = 0
        while j < 4:
            if si == len(src):
                if j == 0:
                    return base64.b64decode(clean)
                raise corrupt(si - j)
            c, si = src[si], si + 1
            if c in _B64_ALPHABET:
                j += 1
            elif c in _CRLF:
                continue
            elif c != ord("=") or j < 2:
                raise corrupt(si - 1)
            else:
                if j == 2:  # "==" expected: the second "=" after any CR/LF
                    while si < len(src) and src[si] in _CRLF:
                        si += 1
                    if si == len(src):
                        raise corrupt(len(src))
                    if src[si] != ord("="):
                        raise corrupt(si - 1)
                    si += 1
                while si < len(src) and src[si] in _CRLF:
                    si += 1
                if si < len(src):  # something after the padding
                    raise corrupt(si)
                return base64.b64decode(clean)


def error_response(request: Request, exc: Exception) -> Response:
    """Nomad's `wrap()`: the status of the error and its message as text/plain."""
    assert isinstance(exc, NomadSimError)
    return PlainTextResponse(exc.message, status_code=exc.status, headers=exc.headers)


def request_token(request: Request) -> str:
    """`parseToken` (http.go L1031): X-Nomad-Token wins over `Authorization: Bearer`."""
    token = request.headers.get("x-nomad-token", "")
    if not token:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        token = value.strip() if scheme.lower() == "bearer" else ""
    return token


class ApiBase:
    """Helpers for handlers over one backend."""

    def __init__(self, backend: NomadBackend) -> None:
        self.backend = backend

    def _caller(self, request: Request) -> Caller:
        """Authenticate the request's token (403 `Permission denied` for an unknown one)."""
        return self.backend.caller(request_token(request))

    def _require(self, request: Request, namespace: str, *capabilities: str) -> Caller:
        """The caller, if it holds any of `capabilities` in `namespace` (`AllowNsOpAnyOf`)."""
        caller = self._caller(request)
        if not caller.acl.allow_ns_op(namespace, *capabilities):
            raise PermissionDenied()
        return caller

    def _require_management(self, request: Request) -> Caller:
        caller = self._caller(request)
        if not caller.acl.management:
            raise PermissionDenied()
        return caller

    @staticmethod
    def _namespace(request: Request, body_value: str = "") -> str:
        return request.query_params.get("namespace") or body_value or "default"

    @staticmethod
    async def _body(request: Request) -> Any:
        raw = await request.body()
        if not raw:
            raise BadRequest("Request body is empty")
        try:
            return json.loads(raw)
        except json.JSONDecodeError as exc:
            raise BadRequest(f"invalid character in JSON body: {exc.msg}") from exc

    def _reply(self, data: Any, index: int | None = None, status: int = 200) -> Response:
        headers = {"X-Nomad-LastContact": "0", "X-Nomad-KnownLeader": "true"}
        if index is not None:
            headers["X-Nomad-Index"] = str(index)
        if data is None:  # wrap() writes no body for a nil result
            return Response(b"", status_code=status, headers=headers)
        return JSONResponse(data, status_code=status, headers=headers)

    async def _block(self, request: Request, current: Callable[[], int]) -> None:
        """Blocking query: wait while `current()` <= `?index=`, up to `?wait=` (cap 300 s)."""
        params = request.query_params
        try:
            wait = duration_ns(params["wait"]) / 1e9 if "wait" in params else 300.0
        except ValueError as exc:
            raise BadRequest("Invalid wait time") from exc
        try:
            index = int(params.get("index", "0"))
            if index < 0:
                raise ValueError(index)
        except ValueError as exc:
            raise BadRequest("Invalid index") from exc
        if index > 0:
            await self.backend.watch.wait_beyond(current, index, wait)
