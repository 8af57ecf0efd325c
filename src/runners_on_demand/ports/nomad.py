"""The Nomad adapter: `NomadPort` over one `httpx.AsyncClient` (Nomad's HTTP API).

Nomad answers errors in `text/plain`. A dispatch that fails validation comes back as HTTP 500 with
a known message (nomad/job_endpoint.go `Dispatch`, `validateDispatchRequest`, wrapped by
command/agent/http.go `wrap()`); those become `NomadRejected`, never retried. Other 5xx and
connection errors are retryable `NomadError`s; 403 (bad token, ACL) is a non-retryable one.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from runners_on_demand import __version__
from runners_on_demand.api_client import url_of
from runners_on_demand.contract import DispatchRequest
from runners_on_demand.errors import ConfigError, NomadError, NomadRejected, RunnerJobMissing
from runners_on_demand.observed import Child, child_from_stub
from runners_on_demand.ports.protocols import (
    AclToken,
    DispatchResult,
    ListedJob,
    Variable,
    VariableConflict,
    VariableMeta,
)

__all__ = ["NomadHttp", "tls_context"]

# Messages of Nomad's dispatch validation (HTTP 500 text/plain), unchanged since at least 1.2.
# https://github.com/hashicorp/nomad/blob/main/nomad/job_endpoint.go (Dispatch, ~L1984-2160)
# The first three are about the runner job itself, not this dispatch: `RunnerJobMissing`.
JOB_MISSING_MESSAGES = (
    "parameterized job not found",
    "is not a parameterized job",
    "is stopped",
)
VALIDATION_MESSAGES = (
    *JOB_MISSING_MESSAGES,
    "Payload is not provided but required by parameterized job",
    "Payload provided but forbidden by parameterized job",
    "Payload exceeds maximum size",
    "Dispatch request included unpermitted metadata keys",
    "Dispatch did not provide required meta keys",
    "dispatch job priority must be between",
)
# Like the GitHub port's: Nomad's logs (and the simulator's request log) tell who called.
USER_AGENT = f"runners-on-demand/{__version__}"
# Longest part of a Nomad error body kept in an exception message.
MAX_MESSAGE = 300


class NomadHttp:
    """`NomadPort` over Nomad's HTTP API, in one namespace and region."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        token: str | None = None,
        namespace: str | None = None,
        region: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._client = client
        self._base = str(client.base_url)
        self._headers = {"User-Agent": USER_AGENT, **(headers or {})}
        if token:
            self._headers["X-Nomad-Token"] = token  # command/agent/http.go parseToken
        self._scope = {k: v for k, v in (("namespace", namespace), ("region", region)) if v}

    async def dispatch(self, request: DispatchRequest) -> DispatchResult:
        """`POST /v1/job/{job}/dispatch?idempotency_token=...`: one child per token."""
        # The token must be in the query string: a body key `idempotency_token` is ignored by
        # Nomad (Go's JSON decoding ignores case, not underscores), which python-nomad 2.1.0 sends.
        # https://developer.hashicorp.com/nomad/api-docs/jobs#dispatch-job
        path = f"/v1/job/{quote(request.job_id, safe='')}/dispatch"
        params = {"idempotency_token": request.idempotency_token, **self._scope}
        response = await self._send("POST", path, params=params, json=request.body())
        try:
            data = response.json()
            job_id = str(data["DispatchedJobID"])
            eval_id = str(data.get("EvalID") or "")
        except (ValueError, KeyError, TypeError) as error:
            raise NomadError(f"Nomad POST {path}: unexpected answer", status=200) from error
        return DispatchResult(dispatched_job_id=job_id, eval_id=eval_id, existing=not eval_id)

    async def health(self) -> None:
        """Raise NomadError unless `GET /v1/agent/health` answers 200 (for `/readyz`)."""
        # https://developer.hashicorp.com/nomad/api-docs/agent#health
        await self._send("GET", "/v1/agent/health")

    async def list_children(self, parent: str) -> list[Child]:
        """The dispatched children of `parent`, with their Meta: `GET /v1/jobs?prefix=...`."""
        # https://developer.hashicorp.com/nomad/api-docs/jobs#list-jobs: `prefix` is a plain ID
        # prefix (children are `<parent>/dispatch-...`), `meta=true` adds each job's Meta.
        stubs = await self._list_jobs({"prefix": f"{parent}/", "meta": "true"})
        children = (child_from_stub(stub) for stub in stubs)
        return [child for child in children if child is not None and child.parent_id == parent]

    async def find_job(self, job_id: str) -> ListedJob | None:
        """`GET /v1/jobs?prefix=<id>&per_page=1`: the job's stub, with `list-jobs` alone.

        `GET /v1/job/<id>` would need `read-job`, which rod's policy leaves out (rod-policy.hcl).
        """
        # Job.List (nomad/job_endpoint.go) walks the `jobs` table's `id` index, a compound
        # (Namespace, ID) of StringFieldIndexes (nomad/state/schema.go jobTableSchema), each
        # NUL-terminated: within a namespace jobs come in ID order, and `<id>` sorts before
        # `<id>-x` and `<id>/dispatch-...`. The paginator (nomad/state/paginator/paginator.go)
        # stops after `per_page` stubs and sends the next one's `<ns>.<id>` as X-Nomad-NextToken
        # (command/agent/http.go parsePagination, setNextToken). So the first stub is `<id>` if
        # it exists. Its fields: structs.JobListStub (api/jobs.go JobListStub), where
        # `ParameterizedJob` is `Job.IsParameterized()`: a parameterized parent, not a child.
        stubs = await self._list_jobs({"prefix": job_id, "per_page": "1"})
        first = stubs[0] if stubs else {}
        if first.get("ID") != job_id:
            return None
        return ListedJob(
            id=job_id,
            type=str(first.get("Type") or ""),
            parameterized=first.get("ParameterizedJob") is True,
            stop=first.get("Stop") is True,
        )

    async def _list_jobs(self, params: Mapping[str, str]) -> list[dict[str, Any]]:
        """`GET /v1/jobs` with `params` in rod's namespace: the stubs."""
        response = await self._send("GET", "/v1/jobs", params={**params, **self._scope})
        stubs = _json(response, "Nomad GET /v1/jobs")
        if not isinstance(stubs, list):
            raise NomadError("Nomad GET /v1/jobs: answer is not a list", status=200)
        return [stub for stub in stubs if isinstance(stub, dict)]

    async def stop_job(self, job_id: str) -> None:
        """`DELETE /v1/job/{id}` without purge: the child stays, so its token stays reserved."""
        # https://developer.hashicorp.com/nomad/api-docs/jobs#stop-a-job (an unknown job: 200)
        await self._send("DELETE", f"/v1/job/{quote(job_id, safe='')}", params=self._scope)

    async def acl_token_self(self) -> AclToken | None:
        """`GET /v1/acl/token/self`; None when ACLs are off (400 `ACL support disabled`)."""
        # https://developer.hashicorp.com/nomad/api-docs/acl/tokens#read-self-token
        try:
            data = await self._object("GET", "/v1/acl/token/self")
        except NomadRejected as error:
            if error.status == 400 and "ACL support disabled" in str(error):
                return None
            raise
        roles = data.get("Roles") or []
        return AclToken(
            type=str(data.get("Type") or ""),
            policies=tuple(str(p) for p in data.get("Policies") or []),
            role_ids=tuple(str(r.get("ID")) for r in roles if isinstance(r, dict)),
        )

    async def acl_policy_rules(self, name: str) -> Mapping[str, Any] | None:
        """`GET /v1/acl/policy/{name}`: `RulesJSON`, which a token may read for its own policies."""
        # https://developer.hashicorp.com/nomad/api-docs/acl/policies#read-policy
        data = await self._object("GET", f"/v1/acl/policy/{quote(name, safe='')}")
        rules = data.get("RulesJSON")
        return rules if isinstance(rules, dict) else None

    async def acl_role_policies(self, role_id: str) -> tuple[str, ...]:
        """`GET /v1/acl/role/{id}`: the names of the role's policies."""
        # https://developer.hashicorp.com/nomad/api-docs/acl/roles#read-single-role
        data = await self._object("GET", f"/v1/acl/role/{quote(role_id, safe='')}")
        links = data.get("Policies") or []
        return tuple(str(link.get("Name")) for link in links if isinstance(link, dict))

    async def _object(self, method: str, path: str) -> dict[str, Any]:
        """A JSON object answer, or NomadError."""
        response = await self._send(method, path, params=self._scope)
        data = _json(response, f"Nomad {method} {path}")
        if not isinstance(data, dict):
            raise NomadError(f"Nomad {method} {path}: answer is not an object", status=200)
        return data

    async def put_variable(
        self, path: str, items: Mapping[str, str], *, cas: int | None = None
    ) -> VariableMeta | VariableConflict:
        """`PUT /v1/var/{path}[?cas=N]`; a lost check-and-set is a `VariableConflict`."""
        # https://developer.hashicorp.com/nomad/api-docs/variables/variables#create-variable
        # 409 carries the current Variable (its items only for a token that may read it).
        params = dict(self._scope) | ({"cas": str(cas)} if cas is not None else {})
        body = {"Path": path, "Items": dict(items)}
        response = await self._send("PUT", _var(path), params=params, json=body, conflict=True)
        meta = _variable(_json(response, f"Nomad PUT {_var(path)}"))
        return VariableConflict(meta) if response.status_code == 409 else meta

    async def read_variable(self, path: str) -> Variable | None:
        """`GET /v1/var/{path}`: the Variable and its items; None for 404 `variable not found`."""
        # https://developer.hashicorp.com/nomad/api-docs/variables/variables#read-variable
        try:
            response = await self._send("GET", _var(path), params=self._scope)
        except NomadError as error:
            if error.status == 404:
                return None
            raise
        data = _json(response, f"Nomad GET {_var(path)}")
        items = data.get("Items") if isinstance(data, dict) else None
        if not isinstance(items, dict):
            raise NomadError(f"Nomad GET {_var(path)}: a Variable without Items", status=200)
        return Variable(_variable(data), {str(k): str(v) for k, v in items.items()})

    async def delete_variable(self, path: str) -> None:
        """`DELETE /v1/var/{path}`: Nomad answers success for a path that holds nothing."""
        # https://developer.hashicorp.com/nomad/api-docs/variables/variables#delete-variable
        await self._send("DELETE", _var(path), params=self._scope)

    async def list_variables(self, prefix: str) -> list[VariableMeta]:
        """`GET /v1/vars?prefix=...`: metadata of the Variables under `prefix`."""
        # https://developer.hashicorp.com/nomad/api-docs/variables/variables#list-variables
        response = await self._send("GET", "/v1/vars", params={"prefix": prefix, **self._scope})
        listed = _json(response, "Nomad GET /v1/vars")
        if not isinstance(listed, list):
            raise NomadError("Nomad GET /v1/vars: answer is not a list", status=200)
        return [_variable(item) for item in listed if isinstance(item, dict)]

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: object = None,
        conflict: bool = False,
    ) -> httpx.Response:
        where = f"Nomad {method} {path}"
        try:
            response = await self._client.request(
                method, url_of(self._base, path, params), json=json, headers=self._headers
            )
        except httpx.HTTPError as error:
            raise NomadError(f"{where}: {type(error).__name__}") from error
        if response.is_success or (conflict and response.status_code == 409):
            return response
        raise _error(response, where)


def _var(path: str) -> str:
    """The URL path of a Variable; its own slashes stay (Nomad paths allow `[A-Za-z0-9-_~/]`)."""
    return f"/v1/var/{quote(path, safe='/')}"


def _json(response: httpx.Response, where: str) -> Any:
    """The answer's JSON (a 409 comes as text/plain, JSON all the same)."""
    try:
        return response.json()
    except ValueError as error:
        raise NomadError(f"{where}: answer is not JSON", status=response.status_code) from error


def _variable(data: Any) -> VariableMeta:
    """A Variable (or its metadata) as `VariableMeta`; times come in nanoseconds."""
    try:
        return VariableMeta(
            path=str(data["Path"]),
            modify_index=int(data["ModifyIndex"]),
            modify_time=int(data.get("ModifyTime") or 0) / 1e9,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise NomadError("Nomad: a Variable without Path or ModifyIndex", status=200) from error


def _error(response: httpx.Response, where: str) -> NomadError:
    """Nomad's plain-text error body as a NomadError, or NomadRejected when it is validation."""
    status = response.status_code
    text = " ".join(response.text.split())[:MAX_MESSAGE] or response.reason_phrase
    message = f"{where}: {status} {text}"
    if status == 500 and any(m in text for m in JOB_MISSING_MESSAGES):
        return RunnerJobMissing(message, status=status)
    if status == 400 or (status == 500 and any(m in text for m in VALIDATION_MESSAGES)):
        return NomadRejected(message, status=status)
    return NomadError(message, status=status, retryable=status >= 500 or status == 429)


def tls_context(
    cacert: str | None, client_cert: str | None = None, client_key: str | None = None
) -> ssl.SSLContext | bool:
    """httpx's `verify=`: trust NOMAD_CACERT, present NOMAD_CLIENT_CERT/KEY (mutual TLS).

    ConfigError, naming the setting, when a file is not what it must be.
    """
    if not (cacert or client_cert):
        return True
    try:
        context = ssl.create_default_context(cafile=cacert)
    except (OSError, ValueError) as error:  # ssl.SSLError is an OSError
        problem = f"NOMAD_CACERT {cacert}: not a PEM CA certificate ({_tls_reason(error)})"
        raise ConfigError([problem]) from None
    if client_cert:
        try:
            context.load_cert_chain(client_cert, client_key)
        except (OSError, ValueError) as error:
            problem = (
                f"NOMAD_CLIENT_CERT {client_cert} and NOMAD_CLIENT_KEY {client_key}: not a PEM "
                f"certificate and its private key ({_tls_reason(error)})"
            )
            raise ConfigError([problem]) from None
    return context


def _tls_reason(error: Exception) -> str:
    """OpenSSL's short reason (NO_CERTIFICATE_OR_CRL_FOUND, KEY_VALUES_MISMATCH...), else text."""
    return getattr(error, "reason", None) or getattr(error, "strerror", None) or str(error)
