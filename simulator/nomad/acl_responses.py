"""HTTP layer of Nomad's ACL API (command/agent/acl_endpoint.go): bootstrap, policies, tokens.

https://developer.hashicorp.com/nomad/api-docs/acl/policies and .../acl/tokens
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from simulator.nomad.errors import BadRequest, MethodNotAllowed
from simulator.nomad.httpbase import ApiBase, request_token


def _object(body: Any, go_type: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest(f"json: cannot unmarshal into Go value of type {go_type}")
    return body


class AclResponses(ApiBase):
    """`/v1/acl/bootstrap`, `/v1/acl/policies`, `/v1/acl/policy/:name`, tokens."""

    async def bootstrap(self, request: Request) -> Response:
        """`ACLTokenBootstrap`: PUT/POST, optional `{"BootstrapSecret": "<uuid>"}`."""
        if request.method not in ("PUT", "POST"):
            raise MethodNotAllowed()
        secret = ""
        if await request.body():
            body = _object(await self._body(request), "structs.ACLTokenBootstrapRequest")
            secret = str(body.get("BootstrapSecret") or "")
        token = self.backend.acl.bootstrap(secret)
        return self._reply(token, token["CreateIndex"])

    async def policies(self, request: Request) -> Response:
        """`GET /v1/acl/policies[?prefix=]`."""
        if request.method != "GET":
            raise MethodNotAllowed()
        acl = self.backend.acl
        caller = self._caller(request)
        stubs = acl.list_policies(caller, request.query_params.get("prefix", ""))
        return self._reply(stubs, acl.index)

    async def policy(self, request: Request) -> Response:
        """`/v1/acl/policy/:name`: GET, PUT/POST (upsert, empty 200), DELETE."""
        name = request.path_params["name"]
        acl = self.backend.acl
        if name == "self" and request.method == "GET":
            caller = self._caller(request)
            return self._reply(acl.list_policies(caller, "") if acl.enabled else [], acl.index)
        if not name:
            raise BadRequest("Missing Policy Name")
        if request.method == "GET":
            policy = acl.get_policy(name, self._caller(request))
            return self._reply(policy, policy["ModifyIndex"])
        if request.method in ("PUT", "POST"):
            body = _object(await self._body(request), "structs.ACLPolicy")
            if body.get("Name") != name:
                raise BadRequest("ACL policy name does not match request path")
            return self._reply(None, acl.upsert_policy(name, body, self._caller(request)))
        if request.method == "DELETE":
            return self._reply(None, acl.delete_policy(name, self._caller(request)))
        raise MethodNotAllowed()

    async def tokens(self, request: Request) -> Response:
        """`GET /v1/acl/tokens`: stubs, management only."""
        if request.method != "GET":
            raise MethodNotAllowed()
        acl = self.backend.acl
        return self._reply(acl.list_tokens(self._caller(request)), acl.index)

    async def token(self, request: Request) -> Response:
        """`/v1/acl/token` (create), `/v1/acl/token/self`, `/v1/acl/token/:accessor`."""
        accessor = request.path_params.get("accessor")
        acl = self.backend.acl
        if accessor is None:  # /v1/acl/token
            if request.method not in ("PUT", "POST"):
                raise MethodNotAllowed()
            return await self._upsert_token(request, "")
        if accessor == "self":
            if request.method != "GET":
                raise MethodNotAllowed()
            # aclTokenSelf -> ACL.ResolveToken: the token whose secret the request carries.
            token = acl.resolve_token(request_token(request))
            return self._reply(token, token["ModifyIndex"])
        if not accessor:
            raise BadRequest("Missing Token Accessor")
        if request.method == "GET":
            token = acl.get_token(accessor, self._caller(request))
            return self._reply(token, token["ModifyIndex"])
        if request.method in ("PUT", "POST"):
            return await self._upsert_token(request, accessor)
        if request.method == "DELETE":
            return self._reply(None, acl.delete_token(accessor, self._caller(request)))
        raise MethodNotAllowed()

    async def _upsert_token(self, request: Request, accessor: str) -> Response:
        body = _object(await self._body(request), "structs.ACLToken")
        if accessor and body.get("AccessorID") != accessor:
            raise BadRequest("ACL token accessor does not match request path")
        token = self.backend.acl.upsert_token(body, self._caller(request))
        return self._reply(token, token["ModifyIndex"])
