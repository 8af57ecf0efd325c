"""The runner scale set protocol over one `httpx.AsyncClient`: auth chain, admin calls, queue.

Auth chain ([S] client.go, ../shared/reference/scaleset-api.md §1): a PAT or a GitHub App's
installation token buys a registration token (REST, 201), which buys the Actions service's URL and
an admin JWT (`POST /actions/runner-registration`, `RemoteAuth`). The admin token is renewed when
it has less than a minute left (its `exp`, read unverified) and after a 401. Admin calls carry
`?api-version=6.0-preview`; the message queue and acquirejobs take the session's queue token.
Like go-retryablehttp ([S] common_client.go) every call is tried up to 5 times on no answer, 429
and 5xx except 501, waiting 1 s * 2^n (at most 30 s) or the integer `Retry-After`. The REST
calls' errors (registration and installation tokens, the runner listing) are built as the REST
adapter builds them (`ports.github.rest_object`): a spent primary or secondary rate limit (403 or
429) is `GitHubRateLimited` with the seconds to wait, which `Listener` waits out. No token is
ever logged or put in an error message.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx

from runners_on_demand import __version__
from runners_on_demand.errors import GitHubError
from runners_on_demand.listen.errors import ServiceError
from runners_on_demand.listen.protocol import (
    API_VERSION,
    Message,
    ScaleSetInfo,
    Session,
    decode,
    error_of,
    message_of,
    scale_set_of,
    session_of,
    token_expiry,
)
from runners_on_demand.listen.scope import Scope
from runners_on_demand.observed import Runner, runner_from_rest
from runners_on_demand.ports.github import BASE_HEADERS, rest_object
from runners_on_demand.ports.github_auth import AppAuth, Authorizer, GitHubAuth

__all__ = ["RunnerRef", "ScaleSetClient"]

log = logging.getLogger(__name__)
USER_AGENT = f"runners-on-demand/{__version__} (rod listen)"
RENEW_MARGIN = 60.0  # [S] updateTokenIfNeeded: renew when now + 60 s passes `exp`
RETRY_MAX, RETRY_WAIT_MAX = 4, 30.0  # [S] newClient: retryMax 4, retryWaitMax 30 s
MAX_PAGES = 50
SCALE_SETS = "_apis/runtime/runnerscalesets"
AGENTS = "_apis/distributedtask/pools/0/agents"
RunnerRef = tuple[int, int]  # (runner id, its runnerScaleSetId)


class ScaleSetClient:
    """The calls `rod listen` makes, on one scope (an organization or a repository)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        scope: Scope,
        auth: GitHubAuth,
        *,
        installation_id: int | None = None,
        poll_timeout: float = 300.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        on_retry: Callable[[str], None] = lambda reason: None,
        retries: int = RETRY_MAX,
    ) -> None:
        self._http = http
        self._retries = retries  # per call, on no answer, 429 and 5xx
        self._on_retry = on_retry  # reason: the status, or the transport error's name
        self.scope = scope
        # how errors name the credential (never its value)
        self.credential = "GITHUB_TOKEN"
        if isinstance(auth, AppAuth):
            installation = f" (listen.installation_id {installation_id})" if installation_id else ""
            self.credential = f"the GitHub App {auth.app_id}{installation}"
        self._authorizer = Authorizer(auth, clock)
        self._installation_id = installation_id
        self._poll_timeout = poll_timeout
        self._clock = clock
        self._sleep = sleep
        self._lock = asyncio.Lock()
        self._service: tuple[str, str, float] | None = None  # (url, admin token, exp)

    # --- the GitHub side ---------------------------------------------------------------------

    async def registration_token(self) -> str:
        """`POST {scope}/actions/runners/registration-token` (201)."""
        # https://docs.github.com/rest/actions/self-hosted-runners#create-a-registration-token-for-a-repository
        path = f"{self.scope.rest_path}/actions/runners/registration-token"
        data = await self._rest("POST", path, await self._authorization())
        token = data.get("token")
        if not isinstance(token, str) or not token:
            raise GitHubError("GitHub registration-token: answer lacks the token", status=201)
        return token

    async def list_runners(self) -> list[Runner]:
        """The scope's self-hosted runners, every page (`GET {scope}/actions/runners`)."""
        # https://docs.github.com/rest/actions/self-hosted-runners#list-self-hosted-runners-for-an-organization
        url: str | None = f"{self.scope.api_url}{self.scope.rest_path}/actions/runners"
        params: dict[str, str] | None = {"per_page": "100"}
        found: list[Runner] = []
        for _ in range(MAX_PAGES):
            if url is None:
                break
            headers = {**BASE_HEADERS, "Authorization": await self._authorization()}
            response = await self._send("GET", url, headers, params=params)
            data = rest_object(response, "GitHub GET actions/runners", self._clock())
            found += [
                runner
                for item in data.get("runners") or ()
                if (runner := runner_from_rest(self.scope.name, item)) is not None
            ]
            following = response.links.get("next", {}).get("url")
            url = following if following and following.startswith(self.scope.api_url) else None
            params = None
        return found

    async def _rest(self, method: str, path: str, authorization: str) -> dict[str, Any]:
        """One REST call (also the App's installation-token calls, see github_auth.Authorizer)."""
        headers = {**BASE_HEADERS, "Authorization": authorization}
        response = await self._send(method, f"{self.scope.api_url}{path}", headers)
        return rest_object(response, f"GitHub {method} {path}", self._clock())

    async def _authorization(self) -> str:
        """The PAT, or an installation token of the App on this scope."""
        owner, repo = self.scope.owner, self.scope.repo  # None: the organization's installation
        return await self._authorizer.for_repo(owner, repo, self._installation_id, self._rest)

    async def _admin(self, *, renew: bool = False) -> tuple[str, str]:
        """The service URL and a valid admin token, running the auth chain when needed."""
        async with self._lock:
            held = self._service
            if held is not None and not renew and self._clock() + RENEW_MARGIN < held[2]:
                return held[0], held[1]
            token = await self.registration_token()
            url = f"{self.scope.api_url}/actions/runner-registration"
            headers = {"Authorization": f"RemoteAuth {token}", "User-Agent": USER_AGENT}
            body = {"url": self.scope.url, "runner_event": "register"}
            response = await self._send("POST", url, headers, json=body)
            where = "GitHub POST /actions/runner-registration"
            if not response.is_success:
                raise self._error(response, where)
            data = decode(response.content, where, response.status_code)
            service, admin = data.get("url"), data.get("token")
            if (
                not isinstance(service, str)
                or not service
                or not isinstance(admin, str)
                or not admin
            ):
                raise ServiceError(f"{where}: answer lacks url or token", status=200)
            service = service if service.endswith("/") else f"{service}/"
            self._service = (service, admin, token_expiry(admin))
            return service, admin

    # --- admin calls (the Actions service) ---------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        ok: tuple[int, ...] = (200,),
    ) -> tuple[int, Any]:
        """One admin call: its status and JSON (None unless 200); a 401 renews the token once."""
        where = f"Actions service {method} {path}"
        response = None
        for renew in (False, True):
            service, token = await self._admin(renew=renew)
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            query = {"api-version": API_VERSION, **(params or {})}
            response = await self._send(
                method, f"{service}{path}", headers, params=query, json=json
            )
            if response.status_code != 401:
                break
        assert response is not None
        if response.status_code not in ok:
            raise self._error(response, where)
        if response.status_code != 200:
            return response.status_code, None
        return 200, decode(response.content, where)

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        """An admin call that answers 200 with a JSON document."""
        return (await self._call(method, path, **kwargs))[1]

    async def runner_group(self, name: str) -> int | None:
        """The id of the runner group called `name` (`runnergroups/?groupName=`); None if none."""
        path = "_apis/runtime/runnergroups/"
        data = await self._json("GET", path, params={"groupName": name})
        groups = data.get("value") or [] if isinstance(data, Mapping) else []
        if len(groups) != 1 or not isinstance(groups[0], Mapping):
            return None  # [S] GetRunnerGroupByName: "no runner group found with name"
        return int(groups[0]["id"])

    async def find_scale_set(self, group_id: int, name: str) -> ScaleSetInfo | None:
        """The group's scale set called `name`, if there is one."""
        params = {"runnerGroupId": str(group_id), "name": name}
        data = await self._json("GET", SCALE_SETS, params=params)
        found = data.get("value") or [] if isinstance(data, Mapping) else []
        if len(found) > 1:
            raise ServiceError(f"Actions service: {len(found)} scale sets named {name}", status=200)
        return scale_set_of(found[0], "Actions service GET scale set") if found else None

    async def create_scale_set(
        self, name: str, group_id: int, labels: tuple[str, ...]
    ) -> ScaleSetInfo:
        """`POST runnerscalesets` (200); ScaleSetExists when the name is taken meanwhile."""
        body = {
            "name": name,
            "runnerGroupId": group_id,
            "labels": [{"type": "System", "name": label} for label in labels],
            "RunnerSetting": {"disableUpdate": True},
        }
        return scale_set_of(await self._json("POST", SCALE_SETS, json=body), "create scale set")

    async def update_labels(self, scale_set_id: int, labels: tuple[str, ...]) -> ScaleSetInfo:
        """`PATCH runnerscalesets/{id}` with the configured labels."""
        body = {"labels": [{"type": "System", "name": label} for label in labels]}
        data = await self._json("PATCH", f"{SCALE_SETS}/{scale_set_id}", json=body)
        return scale_set_of(data, "update scale set")

    async def create_session(self, scale_set_id: int, owner: str) -> Session:
        """`POST .../sessions`; SessionConflict while another session is active."""
        path = f"{SCALE_SETS}/{scale_set_id}/sessions"
        return session_of(await self._json("POST", path, json={"ownerName": owner}), path)

    async def refresh_session(self, session: Session) -> Session:
        """`PATCH .../sessions/{id}`: a new queue token; NotFound once the session is gone."""
        path = f"{SCALE_SETS}/{session.scale_set_id}/sessions/{session.id}"
        return session_of(await self._json("PATCH", path), path)

    async def delete_session(self, session: Session) -> None:
        """`DELETE .../sessions/{id}` (204); an already gone session is fine."""
        path = f"{SCALE_SETS}/{session.scale_set_id}/sessions/{session.id}"
        await self._call("DELETE", path, ok=(200, 204, 400, 404))

    async def generate_jit_config(self, scale_set_id: int, name: str) -> tuple[int, str]:
        """`POST .../generatejitconfig`: (runner id, encodedJITConfig); AgentExists if taken."""
        path = f"{SCALE_SETS}/{scale_set_id}/generatejitconfig"
        data = await self._json("POST", path, json={"name": name, "workFolder": "_work"})
        try:
            encoded = str(data["encodedJITConfig"])
            return int(data["runner"]["id"]), encoded
        except (KeyError, TypeError, ValueError):
            raise ServiceError(f"Actions service {path}: no JIT config", status=200) from None

    async def find_runner(self, name: str) -> RunnerRef | None:
        """The runner called `name` (`agents?agentName=`): its id and scale set id."""
        data = await self._json("GET", AGENTS, params={"agentName": name})
        for item in data.get("value") or [] if isinstance(data, Mapping) else []:
            if isinstance(item, Mapping) and item.get("name") == name:
                return int(item["id"]), int(item.get("runnerScaleSetId") or 0)
        return None

    async def remove_runner(self, runner_id: int) -> bool:
        """`DELETE agents/{id}`: True when removed or gone, False when it runs a job (400)."""
        # ADR 2022-12-27: 204 also when already gone; 400 JobStillRunningException while busy.
        status, _ = await self._call("DELETE", f"{AGENTS}/{runner_id}", ok=(200, 204, 404, 400))
        return status != 400

    # --- the message queue (queue token) -----------------------------------------------------

    async def get_message(self, session: Session, last_id: int, capacity: int) -> Message | None:
        """One long poll: the next message, or None (202: nothing new while it was held)."""
        headers = {
            "Authorization": f"Bearer {session.queue_token}",
            "Accept": f"application/json; api-version={API_VERSION}",
            "X-ScaleSetMaxCapacity": str(capacity),
        }
        params = {"lastMessageId": str(last_id)} if last_id > 0 else None
        timeout = httpx.Timeout(10.0, read=self._poll_timeout)
        response = await self._send(
            "GET", session.queue_url, headers, params=params, timeout=timeout
        )
        where = "message queue GET"
        if response.status_code == 202:
            return None
        if response.status_code != 200:
            raise self._error(response, where)
        return message_of(decode(response.content, where), where)

    async def delete_message(self, session: Session, message_id: int) -> None:
        """Acknowledge a message: `DELETE {queue}/{messageId}` (204)."""
        headers = {"Authorization": f"Bearer {session.queue_token}"}
        response = await self._send("DELETE", f"{session.queue_url}/{message_id}", headers)
        if not response.is_success:
            raise self._error(response, "message queue DELETE")

    async def acquire_jobs(self, session: Session, request_ids: list[int]) -> list[int]:
        """`POST .../acquirejobs` with the *queue* token: the ids the scale set now holds."""
        service, _ = await self._admin()
        url = f"{service}{SCALE_SETS}/{session.scale_set_id}/acquirejobs"
        headers = {
            "Authorization": f"Bearer {session.queue_token}",
            "Content-Type": "application/json",
        }
        params = {"api-version": API_VERSION}
        response = await self._send("POST", url, headers, params=params, json=request_ids)
        where = "Actions service POST acquirejobs"
        if response.status_code != 200:
            raise self._error(response, where)
        data = decode(response.content, where)
        values = data.get("value") or [] if isinstance(data, Mapping) else []
        return [value for value in values if isinstance(value, int)]

    # --- transport ---------------------------------------------------------------------------

    async def _send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        timeout: httpx.Timeout | None = None,
    ) -> httpx.Response:
        """One request, tried again on no answer, 429 and 5xx (but 501) like go-retryablehttp."""
        merged = {"User-Agent": USER_AGENT, **headers}
        extra: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        last = self._retries
        for attempt in range(last + 1):
            wait = min(RETRY_WAIT_MAX, 2.0**attempt)
            where = f"{method} {httpx.URL(url).path}"
            try:
                response = await self._http.request(
                    method, url, headers=merged, params=params, json=json, **extra
                )
            except httpx.HTTPError as error:
                reason = type(error).__name__
                if attempt == last:
                    raise ServiceError(f"{where}: {reason}", status=None) from error
            else:
                status = response.status_code
                if attempt == last or not (status == 429 or (status >= 500 and status != 501)):
                    return response
                reason = str(status)
                retry_after = response.headers.get("retry-after", "")
                if status in (429, 503) and retry_after.strip().isdigit():
                    wait = float(retry_after)
            log.warning("%s: %s; try %d of %d in %.0fs", where, reason, attempt + 2, last + 1, wait)
            self._on_retry(reason)
            await self._sleep(wait)
        raise AssertionError("unreachable")

    @staticmethod
    def _error(response: httpx.Response, where: str) -> ServiceError:
        return error_of(
            where, response.status_code, response.content, response.headers.get("retry-after")
        )
