"""HTTP layer of the emulated Actions service: parse, call ScaleSetBackend, serialize. No rules.

Layout (simulator/README.md): `POST /actions/runner-registration` on the GitHub API (also under
`/api/v3`, the GHES form a config URL on the emulator's host selects, [S] config.go); the
service at `/_services/broker/rest/` (`_apis/...`, admin JWT); the message queue at
`/_services/broker/scalesets/message` (queue token). Status codes are the ones [S] client.go and
session_client.go require: 201 runner-registration (any 2xx), 200 create, 204 deletes and acks,
202 for an empty long poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from simulator.github.actions import Runner
from simulator.github.edge import NO_USER_AGENT, error_response, json_body, require
from simulator.github.errors import GitHubSimError
from simulator.github.scaleset import ScaleSet, Session
from simulator.github.scaleset_errors import ApiVersionMissing, InvalidRequest
from simulator.github.scaleset_faults import with_faults
from simulator.github.scaleset_models import QUEUE_PATH, SERVICE_PATH, ScaleSetBackend

POLL_INTERVAL = 0.02  # how often a held poll looks for news (real seconds)
Admin = Callable[[Request, ScaleSetBackend, str], Awaitable[Response]]
Queue = Callable[[Request, ScaleSetBackend], Awaitable[Response]]


def _service(
    operation: str,
    handler: Callable[[Request, ScaleSetBackend], Awaitable[Response]],
    *,
    actions_service: bool = True,
) -> Callable[[Request], Awaitable[Response]]:
    async def run(request: Request) -> Response:
        try:
            response = await handler(request, request.app.state.backend.scalesets)
        except GitHubSimError as error:
            response = error_response(error)
        if actions_service:
            response.headers["ActivityId"] = str(uuid.uuid4())  # logged by [S] on errors
        return response

    return with_faults(operation, run)


def _api_version(request: Request) -> None:
    """`api-version` in the query ([S] adds 6.0-preview) or in the Accept header."""
    if "api-version" not in request.query_params and "api-version" not in request.headers.get(
        "accept", ""
    ):
        raise ApiVersionMissing()


def admin(operation: str) -> Callable[[Admin], Callable[[Request], Awaitable[Response]]]:
    """An `_apis` call: api-version, then the admin JWT, whose scope the handler gets."""

    def wrap(handler: Admin) -> Callable[[Request], Awaitable[Response]]:
        async def checked(request: Request, b: ScaleSetBackend) -> Response:
            _api_version(request)
            return await handler(request, b, b.authorize(request.headers.get("authorization")))

        return _service(operation, checked)

    return wrap


def queue(operation: str) -> Callable[[Queue], Callable[[Request], Awaitable[Response]]]:
    """A message-queue call: the handler passes the queue token on to the backend."""

    def wrap(handler: Queue) -> Callable[[Request], Awaitable[Response]]:
        return _service(operation, handler)

    return wrap


async def _json(request: Request) -> Any:
    try:
        return json.loads(await request.body())
    except ValueError:
        raise InvalidRequest("The request body is not valid JSON.") from None


async def _object(request: Request) -> dict[str, Any]:
    body = await _json(request)
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    return body


def _int(raw: str | None, name: str) -> int | None:
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise InvalidRequest(f"{name} must be an integer, not {raw!r}.") from None


def _fields(body: dict[str, Any]) -> dict[str, Any]:
    """Scale set fields of a create or PATCH body; Go's zero values count as absent."""
    name, group = body.get("name"), body.get("runnerGroupId")
    labels, setting = body.get("labels"), body.get("RunnerSetting")
    if name is not None and not isinstance(name, str):
        raise InvalidRequest("name must be a string.")
    if group is not None and (not isinstance(group, int) or isinstance(group, bool)):
        raise InvalidRequest("runnerGroupId must be an integer.")
    if setting is not None and not isinstance(setting, dict):
        raise InvalidRequest("RunnerSetting must be an object.")
    parsed = []
    for label in labels or []:
        if (
            not isinstance(label, dict)
            or not isinstance(label.get("name"), str)
            or not label["name"]
        ):
            raise InvalidRequest("Each label needs a name.")
        parsed.append({"type": str(label.get("type") or "System"), "name": label["name"]})
    return {
        "name": name or None,
        "group_id": group or None,
        "labels": parsed,
        "runner_setting": setting,
    }


def _scale_set(b: ScaleSetBackend, scale_set: ScaleSet) -> dict[str, Any]:
    return scale_set.to_json(b.service_url, b.statistics(scale_set))


def _listing(values: list[Any]) -> JSONResponse:
    return JSONResponse({"count": len(values), "value": values})


# --- the GitHub side of the auth chain ---------------------------------------------------------


async def _runner_registration(r: Request, b: ScaleSetBackend) -> Response:
    if not r.headers.get("user-agent"):
        return PlainTextResponse(NO_USER_AGENT, status_code=403)
    body = await json_body(r)
    url = require(body, "url", str)
    token = b.runner_registration(r.headers.get("authorization"), url)
    # actions/runner also reads `token_schema` (CredentialManager.cs, GitHubAuthResult)
    answer = {"url": b.service_url, "token": token, "token_schema": "OAuthAccessToken"}
    return JSONResponse(answer, status_code=201)


runner_registration = _service("runner_registration", _runner_registration, actions_service=False)


# --- runner groups and scale sets -------------------------------------------------------------


@admin("get_runner_groups")
async def get_runner_groups(r: Request, b: ScaleSetBackend, scope: str) -> Response:
    """GET _apis/runtime/runnergroups/?groupName=."""
    groups = b.get_runner_groups(scope, r.query_params.get("groupName"))
    return _listing([group.to_json(size) for group, size in groups])


@admin("list_runner_scale_sets")
async def list_runner_scale_sets(r: Request, b: ScaleSetBackend, scope: str) -> Response:
    """GET _apis/runtime/runnerscalesets?runnerGroupId=&name=."""
    group = _int(r.query_params.get("runnerGroupId"), "runnerGroupId")
    found = b.list_runner_scale_sets(scope, group_id=group, name=r.query_params.get("name"))
    return _listing([_scale_set(b, s) for s in found])


@admin("create_runner_scale_set")
async def create_runner_scale_set(r: Request, b: ScaleSetBackend, scope: str) -> Response:
    """POST _apis/runtime/runnerscalesets -> 200 (not 201)."""
    fields = _fields(await _object(r))
    if not fields["name"]:
        raise InvalidRequest("A runner scale set needs a name.")
    created = b.create_runner_scale_set(
        scope,
        name=fields["name"],
        group_id=fields["group_id"],
        labels=fields["labels"],
        runner_setting=fields["runner_setting"] or {},
    )
    return JSONResponse(_scale_set(b, created))


@admin("get_runner_scale_set")
async def get_runner_scale_set(r: Request, b: ScaleSetBackend, scope: str) -> Response:
    """GET _apis/runtime/runnerscalesets/{id}."""
    return JSONResponse(_scale_set(b, b.get_runner_scale_set(scope, r.path_params["id"])))


@admin("update_runner_scale_set")
async def update_runner_scale_set(r: Request, b: ScaleSetBackend, scope: str) -> Response:
    """PATCH _apis/runtime/runnerscalesets/{id}."""
    updated = b.update_runner_scale_set(scope, r.path_params["id"], **_fields(await _object(r)))
    return JSONResponse(_scale_set(b, updated))


@admin("delete_runner_scale_set")
async def delete_runner_scale_set(r: Request, b: ScaleSetBackend, scope: str) -> Response:
    """DELETE _apis/runtime/runnerscalesets/{id} -> 204."""
    b.delete_runner_scale_set(scope, r.path_params["id"])
    return Response(status_code=204)


# --- message sessions ----------------------------------------------------------------------------


def _session(b: ScaleSetBackend, scope: str, scale_set_id: int, session: Session) -> Response:
    scale_set = _scale_set(b, b.get_runner_scale_set(scope, scale_set_id))
    return JSONResponse(session.to_json(scale_set, b.queue_url))


@admin("create_message_session")
async def create_message_session(r: Request, b: ScaleSetBackend, scope: str) -> Response:
    """POST .../{id}/sessions {ownerName} -> 200 session; 409 while one is active."""
    owner = (await _object(r)).get("ownerName")
    if not isinstance(owner, str) or not owner:
        raise InvalidRequest("ownerName is required.")
    scale_set_id = r.path_params["id"]
    return _session(b, scope, scale_set_id, b.create_message_session(scope, scale_set_id, owner))


@admin("refresh_message_session")
async def refresh_message_session(r: Request, b: ScaleSetBackend, scope: str) -> Response:
    """PATCH .../{id}/sessions/{sessionId} -> 200 session with a new queue token."""
    scale_set_id, session_id = r.path_params["id"], r.path_params["session_id"]
    session = b.refresh_message_session(scope, scale_set_id, session_id)
    return _session(b, scope, scale_set_id, session)


@admin("delete_message_session")
async def delete_message_session(r: Request, b: ScaleSetBackend, scope: str) -> Response:
    """DELETE .../{id}/sessions/{sessionId} -> 204."""
    b.delete_message_session(scope, r.path_params["id"], r.path_params["session_id"])
    return Response(status_code=204)


# --- the message queue and acquisition ------------------------------------------------------------


@queue("get_message")
async def get_message(r: Request, b: ScaleSetBackend) -> Response:
    """GET {messageQueueUrl}?lastMessageId= (queue token): 200 at once, or 202 after the hold."""
    last = _int(r.query_params.get("lastMessageId"), "lastMessageId") or 0
    capacity = _int(r.headers.get("x-scalesetmaxcapacity"), "X-ScaleSetMaxCapacity")
    authorization = r.headers.get("authorization")
    deadline = time.monotonic() + b.settings.poll_hold
    message = b.get_message(authorization, last, capacity)
    if message is not None:
        return JSONResponse(message)
    b.holding_poll(authorization, +1)
    try:
        while message is None:
            left = deadline - time.monotonic()
            if left <= 0 or await r.is_disconnected():
                return Response(status_code=202)
            await asyncio.sleep(min(POLL_INTERVAL, left))
            message = b.get_message(authorization, last, capacity)
    finally:
        with contextlib.suppress(GitHubSimError):  # the session may be gone meanwhile
            b.holding_poll(authorization, -1)
    return JSONResponse(message)


@queue("delete_message")
async def delete_message(r: Request, b: ScaleSetBackend) -> Response:
    """DELETE {messageQueueUrl}/{messageId} (queue token) -> 204: acknowledged."""
    b.delete_message(r.headers.get("authorization"), r.path_params["message_id"])
    return Response(status_code=204)


@queue("acquire_jobs")
async def acquire_jobs(r: Request, b: ScaleSetBackend) -> Response:
    """POST .../{id}/acquirejobs [runnerRequestId...] with the *queue* token -> 200 ids held."""
    _api_version(r)
    ids = await _json(r)
    if not isinstance(ids, list) or not all(
        isinstance(x, int) and not isinstance(x, bool) for x in ids
    ):
        raise InvalidRequest("The body must be a JSON array of runner request ids.")
    acquired = b.acquire_jobs(r.headers.get("authorization"), r.path_params["id"], ids)
    return _listing(acquired)


# --- runners -------------------------------------------------------------------------------------


def _reference(runner: Runner) -> dict[str, Any]:
    """[S] RunnerReference."""
    return {"id": runner.id, "name": runner.name, "runnerScaleSetId": runner.scale_set_id or 0}


@admin("generate_jit_runner_config")
async def generate_jit_runner_config(r: Request, b: ScaleSetBackend, scope: str) -> Response:
    """POST .../{id}/generatejitconfig {name, workFolder} -> 200 {runner, encodedJITConfig}."""
    body = await _object(r)
    name, work_folder = body.get("name"), body.get("workFolder") or "_work"
    if not isinstance(name, str) or not name or not isinstance(work_folder, str):
        raise InvalidRequest("name (and workFolder, if given) must be non-empty strings.")
    runner, encoded = b.generate_jit_runner_config(
        scope, r.path_params["id"], name=name, work_folder=work_folder
    )
    return JSONResponse({"runner": _reference(runner), "encodedJITConfig": encoded})


@admin("get_runner")
async def get_runner(r: Request, b: ScaleSetBackend, scope: str) -> Response:
    """GET _apis/distributedtask/pools/0/agents/{id} or .../agents?agentName=."""
    if "runner_id" in r.path_params:
        return JSONResponse(_reference(b.get_runner(scope, r.path_params["runner_id"])))
    name = r.query_params.get("agentName", "")
    return _listing([_reference(x) for x in b.get_runner_by_name(scope, name)])


@admin("remove_runner")
async def remove_runner(r: Request, b: ScaleSetBackend, scope: str) -> Response:
    """DELETE _apis/distributedtask/pools/0/agents/{id} -> 204, also when already gone."""
    b.remove_runner(scope, r.path_params["runner_id"])
    return Response(status_code=204)


RSS = f"{SERVICE_PATH}/_apis/runtime/runnerscalesets"
ONE = f"{RSS}/{{id:int}}"
AGENTS = f"{SERVICE_PATH}/_apis/distributedtask/pools/{{pool:int}}/agents"
GITHUB_ROUTES = [Route("/actions/runner-registration", runner_registration, methods=["POST"])]
ROUTES = [
    Route(f"{SERVICE_PATH}/_apis/runtime/runnergroups/", get_runner_groups, methods=["GET"]),
    Route(f"{SERVICE_PATH}/_apis/runtime/runnergroups", get_runner_groups, methods=["GET"]),
    Route(RSS, list_runner_scale_sets, methods=["GET"]),
    Route(RSS, create_runner_scale_set, methods=["POST"]),
    Route(ONE, get_runner_scale_set, methods=["GET"]),
    Route(ONE, update_runner_scale_set, methods=["PATCH"]),
    Route(ONE, delete_runner_scale_set, methods=["DELETE"]),
    Route(f"{ONE}/sessions", create_message_session, methods=["POST"]),
    Route(f"{ONE}/sessions/{{session_id}}", refresh_message_session, methods=["PATCH"]),
    Route(f"{ONE}/sessions/{{session_id}}", delete_message_session, methods=["DELETE"]),
    Route(f"{ONE}/acquirejobs", acquire_jobs, methods=["POST"]),
    Route(f"{ONE}/generatejitconfig", generate_jit_runner_config, methods=["POST"]),
    Route(AGENTS, get_runner, methods=["GET"]),
    Route(f"{AGENTS}/{{runner_id:int}}", get_runner, methods=["GET"]),
    Route(f"{AGENTS}/{{runner_id:int}}", remove_runner, methods=["DELETE"]),
    Route(QUEUE_PATH, get_message, methods=["GET"]),
    Route(f"{QUEUE_PATH}/{{message_id:int}}", delete_message, methods=["DELETE"]),
]
