"""HTTP layer of Nomad Variables (command/agent/variable_endpoint.go): `/v1/var/:path`, `/v1/vars`.

PUT/POST upsert (`?cas=N` checks and sets), GET reads (404 `variable not found`), DELETE removes
(204, `?cas=N` too); any other method is a 400 `Invalid method`, as in Nomad (not a 405).
https://developer.hashicorp.com/nomad/api-docs/variables/variables
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from simulator.nomad.errors import BadRequest, MethodNotAllowed, NotFound
from simulator.nomad.httpbase import ApiBase, go_type

LOCK_OPERATIONS = {"lock-acquire", "lock-release", "lock-renew"}  # not emulated


def _cas(request: Request) -> int | None:
    """`parseCAS`: `?cas=` as a uint64, or None when absent or empty."""
    raw = request.query_params.get("cas", "")
    if not raw:
        return None
    if not raw.isdigit():
        raise BadRequest(f'can not parse cas: strconv.ParseUint: parsing "{raw}": invalid syntax')
    return int(raw)


def _items(body: Any) -> dict[str, str]:
    """A `VariableDecrypted` body's Items, as encoding/json decodes them (strings only)."""
    field = "json: cannot unmarshal {} into Go struct field VariableDecrypted.Items of type {}"
    if not isinstance(body, dict):
        raise BadRequest(
            f"json: cannot unmarshal {go_type(body)} into Go value of type "
            "structs.VariableDecrypted"
        )
    items = body.get("Items")
    if items is not None and not isinstance(items, dict):
        raise BadRequest(field.format(go_type(items), "structs.VariableItems"))
    for value in (items or {}).values():
        if not isinstance(value, str):
            raise BadRequest(field.format(go_type(value), "string"))
    if not items:
        raise BadRequest("variable missing required Items object")
    return items


class VariableResponses(ApiBase):
    """`/v1/var/...` and `/v1/vars`."""

    async def variable(self, request: Request) -> Response:
        """`VariableSpecificRequest`: the method picks the operation."""
        path = request.path_params["path"]
        if not path:
            raise BadRequest("missing variable path")
        if request.method == "GET":
            return await self._read(request, path)
        if request.method in ("PUT", "POST"):
            if LOCK_OPERATIONS & set(request.query_params):
                raise BadRequest("variable locks are not supported by the Nomad emulator")
            return await self._upsert(request, path)
        if request.method == "DELETE":
            return self._delete(request, path)
        raise BadRequest("Invalid method")

    async def _read(self, request: Request, path: str) -> Response:
        caller = self._caller(request)
        namespace = self._namespace(request)
        store = self.backend.variables

        def current() -> int:
            found = store.items.get((namespace, path))
            return int(found["ModifyIndex"]) if found else store.index

        await self._block(request, current)
        variable = store.read(namespace, path, caller)
        if variable is None:
            error = NotFound("variable not found")
            error.headers = {"X-Nomad-Index": str(store.index)}
            raise error
        return self._reply(variable, variable["ModifyIndex"])

    async def _upsert(self, request: Request, path: str) -> Response:
        body = await self._body(request)
        items = _items(body)
        cas = _cas(request)
        namespace = str(body.get("Namespace") or "") or self._namespace(request)
        caller = self._caller(request)
        variable, index = self.backend.variables.upsert(
            namespace, path, items, cas=cas, caller=caller
        )
        return self._reply(variable, index)

    def _delete(self, request: Request, path: str) -> Response:
        cas = _cas(request)
        caller = self._caller(request)
        index = self.backend.variables.delete(
            self._namespace(request), path, cas=cas, caller=caller
        )
        return self._reply(None, index, status=204)

    async def variables(self, request: Request) -> Response:
        """`GET /v1/vars?prefix=&namespace=`: metadata the caller may list, `[]` when none."""
        if request.method != "GET":
            raise MethodNotAllowed()
        caller = self._caller(request)
        store = self.backend.variables
        await self._block(request, lambda: store.index)
        listed = store.list(
            self._namespace(request), request.query_params.get("prefix", ""), caller
        )
        return self._reply(listed, store.index)
