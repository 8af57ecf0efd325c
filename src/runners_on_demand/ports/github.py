"""The GitHub adapter: `GitHubPort` over one `httpx.AsyncClient` (GitHub's REST API).

Runner calls take `owner, repo` for a repository's runners, or `owner, None` for an
organization's (`scope.RunnerScope` unpacks to these). Runner groups and the generic `request`
and `pages` (for `rod hooks`) are in github_more.py; `api_calls` counts every request sent.

Authentication comes from `github_auth.Authorizer` (a token, or a GitHub App's installation
tokens). Every call passes the credential's `github_gate.RateGate` first: while its rate limit
is spent the call is not sent; then `github_pacing.Pacer`, which gives it a slot under GitHub's
secondary limits (points per minute per endpoint, calls at once). Errors become `GitHubError`
(with GitHub's `message`) or `GitHubRateLimited` (with the seconds to wait); a 409 on
generate-jitconfig is not an error but `RunnerExists`: a runner of that name was already made
for this job. Listings use ETag-conditional requests, which cost no quota when nothing changed.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import httpx

from runners_on_demand import __version__
from runners_on_demand.api_client import url_of
from runners_on_demand.contract import JitConfig, RegistrationToken
from runners_on_demand.errors import GitHubError, GitHubRateLimited
from runners_on_demand.observed import QueuedJob, Runner, queued_job_from_rest, runner_from_rest
from runners_on_demand.ports.github_auth import (
    TOKEN_MARGIN,
    Authorizer,
    GitHubAuth,
    PatAuth,
    token_and_expiry,
)
from runners_on_demand.ports.github_gate import RateGate, reset_wait
from runners_on_demand.ports.github_more import MAX_PAGES, MoreCalls
from runners_on_demand.ports.github_pacing import Pacer
from runners_on_demand.ports.protocols import Removal, RunnerExists
from runners_on_demand.scope import RunnerScope

__all__ = ["GitHubHttp", "rest_object"]

# https://docs.github.com/en/rest/about-the-rest-api/api-versions (pinned; 2026-03-10 breaks things)
BASE_HEADERS = {
    "Accept": "application/vnd.github+json",
    "X-GitHub-Api-Version": "2022-11-28",
    "User-Agent": f"runners-on-demand/{__version__}",
}
# Secondary rate limits without Retry-After: "wait at least one minute".
SECONDARY_WAIT = 60.0
# Conditional GETs remembered for the listings (URL -> ETag, body, next link).
ETAG_CACHE_SIZE = 256
EtagCache = OrderedDict[str, tuple[str, Any, str | None]]


class GitHubHttp(MoreCalls):
    """`GitHubPort` over GitHub's REST API."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        auth: GitHubAuth,
        *,
        clock: Callable[[], float] = time.time,
        etags: EtagCache | None = None,
        etag_cache_size: int = ETAG_CACHE_SIZE,
        gate: RateGate | None = None,
        pacer: Pacer | None = None,
    ) -> None:
        self._client = client
        self._base = str(client.base_url)
        # Every call waits for its slot under GitHub's secondary limits (github_pacing.py).
        self.pacer = pacer or Pacer()
        self._authorizer = Authorizer(auth, clock)
        self._clock = clock
        self.gate = gate or RateGate(clock)
        self._registration_tokens: dict[str, tuple[RegistrationToken, float]] = {}
        # A caller may hand in (and keep) the cache, e.g. to reuse it in a later run.
        self._etags: EtagCache = OrderedDict() if etags is None else etags
        self._etag_cache_size = etag_cache_size
        self.rate_limit_remaining: int | None = None
        self.api_calls = 0  # requests sent
        self.not_modified = 0  # of which answered 304 (free against the rate limit)

    async def generate_jitconfig(
        self,
        owner: str,
        repo: str | None,
        body: Mapping[str, Any],
        *,
        installation_id: int | None = None,
    ) -> JitConfig | RunnerExists:
        """`POST /repos/{owner}/{repo}/actions/runners/generate-jitconfig` (201)."""
        # https://docs.github.com/en/rest/actions/self-hosted-runners#create-configuration-for-a-just-in-time-runner-for-a-repository
        # https://docs.github.com/en/rest/actions/self-hosted-runners#create-configuration-for-a-just-in-time-runner-for-an-organization
        path = f"{_scope(owner, repo)}/actions/runners/generate-jitconfig"
        authorization = await self._authorization(owner, repo, installation_id)
        try:
            data = await self._call("POST", path, authorization, json=dict(body))
        except GitHubError as error:
            if error.status == 409:  # "Already exists": the name is unique per job and attempt
                return RunnerExists(name=str(body.get("name", "")))
            raise
        encoded = data.get("encoded_jit_config")
        if not isinstance(encoded, str) or not encoded:
            raise GitHubError(f"GitHub POST {path}: answer lacks encoded_jit_config", status=201)
        runner_id = (data.get("runner") or {}).get("id")
        made = runner_id if isinstance(runner_id, int) else None
        return JitConfig(encoded, made)

    async def create_registration_token(
        self, owner: str, repo: str | None, *, installation_id: int | None = None
    ) -> RegistrationToken:
        """`POST .../actions/runners/registration-token`, cached per scope until near expiry."""
        # https://docs.github.com/en/rest/actions/self-hosted-runners#create-a-registration-token-for-a-repository
        key = RunnerScope(owner, repo).key
        cached = self._registration_tokens.get(key)
        if cached is not None and cached[1] - TOKEN_MARGIN > self._clock():
            return cached[0]
        path = f"{_scope(owner, repo)}/actions/runners/registration-token"
        authorization = await self._authorization(owner, repo, installation_id)
        data = await self._call("POST", path, authorization)
        token, expires_at = token_and_expiry(data, path)
        credential = RegistrationToken(token=token)
        now = self._clock()  # expired tokens go, so the cache holds at most an hour's scopes
        for stale in [k for k, (_, until) in self._registration_tokens.items() if until <= now]:
            del self._registration_tokens[stale]
        self._registration_tokens[key] = (credential, expires_at)
        return credential

    async def list_queued_jobs(self, owner: str, repo: str) -> list[QueuedJob]:
        """Queued jobs of the repository's queued and in-progress runs (latest attempts)."""
        # https://docs.github.com/en/rest/actions/workflow-runs#list-workflow-runs-for-a-repository
        # https://docs.github.com/en/rest/actions/workflow-jobs#list-jobs-for-a-workflow-run
        base = f"{_repo(owner, repo)}/actions/runs"
        authorization = await self._authorization(owner, repo, None)
        runs: dict[int, Mapping[str, Any]] = {}
        for status in ("queued", "in_progress"):
            params = {"status": status, "per_page": "100"}
            for run in await self._list(base, authorization, params, "workflow_runs"):
                if isinstance(run, dict) and isinstance(run.get("id"), int):
                    runs.setdefault(run["id"], run)
        jobs: list[QueuedJob] = []
        for run_id, run in sorted(runs.items()):
            params = {"filter": "latest", "per_page": "100"}
            for item in await self._list(f"{base}/{run_id}/jobs", authorization, params, "jobs"):
                found = queued_job_from_rest(item, run.get("repository") or {})
                if found is not None:
                    jobs.append(found)
        return jobs

    async def list_runners(self, owner: str, repo: str | None) -> list[Runner]:
        """`GET /repos/{owner}/{repo}/actions/runners` (or `/orgs/{owner}/...`), every page."""
        # https://docs.github.com/en/rest/actions/self-hosted-runners#list-self-hosted-runners-for-a-repository
        path = f"{_scope(owner, repo)}/actions/runners"
        authorization = await self._authorization(owner, repo, None)
        items = await self._list(path, authorization, {"per_page": "100"}, "runners")
        where = str(RunnerScope(owner, repo))
        return [r for item in items if (r := runner_from_rest(where, item)) is not None]

    async def find_runner(self, owner: str, repo: str | None, name: str) -> Runner | None:
        """The runner called `name`, asked afresh (no cache)."""
        path = f"{_scope(owner, repo)}/actions/runners"
        authorization = await self._authorization(owner, repo, None)
        data, _ = await self._get(path, authorization, {"name": name}, cache=False)
        for item in _field(data, "runners"):
            runner = runner_from_rest(str(RunnerScope(owner, repo)), item)
            if runner is not None and runner.name == name:
                return runner
        return None

    async def delete_runner(self, owner: str, repo: str | None, runner_id: int) -> Removal:
        """`DELETE .../actions/runners/{id}`: removed, already gone (404), or busy (422)."""
        # https://docs.github.com/en/rest/actions/self-hosted-runners#delete-a-self-hosted-runner-from-a-repository
        # GitHub answers 422 "still running a job" while the runner is busy.
        path = f"{_scope(owner, repo)}/actions/runners/{runner_id}"
        authorization = await self._authorization(owner, repo, None)
        response = await self._send("DELETE", path, authorization)
        answers = {204: Removal.REMOVED, 404: Removal.GONE, 422: Removal.BUSY}
        if response.status_code in answers:
            return answers[response.status_code]
        raise _error(response, f"GitHub DELETE {path}", self._clock())

    async def check(self) -> None:
        """Raise GitHubError unless GitHub answers and accepts our credentials (`/readyz`)."""
        # GET /rate_limit costs no quota for a token; GET /app is the App's own identity (JWT).
        path = "/rate_limit" if isinstance(self._authorizer.auth, PatAuth) else "/app"
        try:
            await self._call("GET", path, self._authorizer.app_or_token(), gated=False)
        except GitHubError as error:
            # Reachable is what matters: a rate limit is waited out, not a reason to take the
            # service out of rotation. Silence, 5xx and rejected credentials (401) are.
            if error.status is None or error.status >= 500 or error.status == 401:
                raise

    async def _authorization(
        self, owner: str, repo: str | None, installation_id: int | None
    ) -> str:
        return await self._authorizer.for_repo(owner, repo, installation_id, self._call)

    def _answer(self, method: str, path: str, response: httpx.Response) -> Any:
        """A 2xx answer's JSON (None when empty), or a GitHubError."""
        if not response.is_success:
            raise _error(response, f"GitHub {method} {path}", self._clock())
        return _json(response, f"GitHub {method} {path}") if response.content else None

    async def _call(
        self, method: str, path: str, authorization: str, *, json: Any = None, gated: bool = True
    ) -> dict[str, Any]:
        """One request; a 2xx JSON object back, or a GitHubError."""
        had_installation_token = self._authorizer.holds_installation_token
        response = await self._send(method, path, authorization, json=json, gated=gated)
        try:
            return rest_object(response, f"GitHub {method} {path}", self._clock())
        except GitHubError as failure:
            if failure.status == 401 and had_installation_token:
                failure.retryable = True  # `_send` dropped the token: the retry fetches a new one
            raise

    async def _list(
        self,
        path: str,
        authorization: str,
        params: Mapping[str, str],
        key: str | None,
        max_pages: int = MAX_PAGES,
    ) -> list[Any]:
        """The `key` items of every page, following the `link` header's rel="next"."""
        # https://docs.github.com/en/rest/using-the-rest-api/using-pagination-in-the-rest-api
        items: list[Any] = []
        url: str | None = path
        query: Mapping[str, str] | None = params
        for _ in range(max_pages):
            if url is None:
                break
            data, url = await self._get(url, authorization, query)
            query = None  # the next link carries the query
            items += data if key is None and isinstance(data, list) else _field(data, key)
        return items

    async def _get(
        self,
        url: str,
        authorization: str,
        params: Mapping[str, str] | None,
        *,
        cache: bool = True,
    ) -> tuple[Any, str | None]:
        """A conditional GET: a 304 answers from the cache and costs no rate limit."""
        # https://docs.github.com/en/rest/using-the-rest-api/best-practices-for-using-the-rest-api#use-conditional-requests-if-appropriate
        key = url_of(self._base, url, params)
        cached = self._etags.get(key) if cache else None
        extra = {"If-None-Match": cached[0]} if cached else {}
        response = await self._send("GET", url, authorization, params=params, headers=extra)
        if response.status_code == 304 and cached is not None:
            self.not_modified += 1
            self._etags.move_to_end(key)
            return cached[1], cached[2]
        if not response.is_success:
            raise _error(response, f"GitHub GET {url}", self._clock())
        data = _json(response, f"GitHub GET {url}")
        following = response.links.get("next", {}).get("url")
        if following and httpx.URL(following).host != self._client.base_url.host:
            following = None  # follow links only on the API's own host
        etag = response.headers.get("etag")
        if cache and etag:
            self._etags[key] = (etag, data, following)
            self._etags.move_to_end(key)
            while len(self._etags) > self._etag_cache_size:
                self._etags.popitem(last=False)
        return data, following

    async def _send(
        self,
        method: str,
        url: str,
        authorization: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        gated: bool = True,
    ) -> httpx.Response:
        """One request through the rate gate and the pacer, any status back; connection errors
        as GitHubError.

        `gated=False` only for `check()` (`/readyz`): `GET /rate_limit` costs no quota, and
        `GET /app` is the App's own identity.
        """
        key = self._authorizer.rate_key(authorization)
        if gated:
            self.gate.admit(key, f"GitHub {method} {url}")
        merged = {**BASE_HEADERS, "Authorization": authorization, **(headers or {})}
        try:
            async with self.pacer.call(key, method, url):
                if gated:  # a pause may have come while this call waited for its slot
                    self.gate.admit(key, f"GitHub {method} {url}")
                self.api_calls += 1
                response = await self._client.request(
                    method, url_of(self._base, url, params), headers=merged, json=json
                )
        except httpx.HTTPError as error:
            raise GitHubError(f"GitHub {method} {url}: {type(error).__name__}") from error
        remaining = response.headers.get("x-ratelimit-remaining")
        if remaining is not None and remaining.isdigit():
            self.rate_limit_remaining = int(remaining)
        self.gate.observe(key, response.headers)
        if response.status_code in (403, 429):
            refusal = _error(response, f"GitHub {method} {url}", self._clock())
            if isinstance(refusal, GitHubRateLimited):
                self.gate.pause(key, self._clock() + refusal.retry_after, "rate limit answer")
        if response.status_code == 401:
            self._authorizer.forget_installation_tokens()  # expired or revoked early
        return response


def rest_object(response: httpx.Response, where: str, now: float) -> dict[str, Any]:
    """A 2xx answer's JSON object, or the GitHubError for the answer (`_error`)."""
    if not response.is_success:
        raise _error(response, where, now)
    return _object(response, where)


def _object(response: httpx.Response, where: str) -> dict[str, Any]:
    """The answer's JSON object, or a GitHubError."""
    data = _json(response, where)
    if not isinstance(data, dict):
        raise GitHubError(f"{where}: answer is not a JSON object")
    return data


def _json(response: httpx.Response, where: str) -> Any:
    """The answer's JSON object or array, or a GitHubError."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict | list):
        raise GitHubError(f"{where}: answer is not JSON")
    return data


def _field(data: Any, key: str | None) -> list[Any]:
    """The list under `key` of an object page; [] when absent."""
    found = data.get(key) if isinstance(data, dict) and key else None
    return found if isinstance(found, list) else []


def _error(response: httpx.Response, where: str, now: float) -> GitHubError:
    """GitHub's `{message}` as a GitHubError; 403/429 rate limits as GitHubRateLimited."""
    # https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api#exceeding-the-rate-limit
    status = response.status_code
    message = f"{where}: {status} {_message(response)}"
    headers = response.headers
    if status in (403, 429):
        retry_after = headers.get("retry-after")
        if retry_after is not None:
            return GitHubRateLimited(message, status=status, retry_after=_seconds(retry_after))
        if headers.get("x-ratelimit-remaining") == "0":
            wait = reset_wait(headers, now)
            wait = SECONDARY_WAIT if wait is None else wait
            return GitHubRateLimited(message, status=status, retry_after=wait)
        # A 429 is always a limit; a 403 only says so in its text (else: no permission).
        if status == 429 or "rate limit" in message.lower():
            return GitHubRateLimited(message, status=status, retry_after=SECONDARY_WAIT)
    return GitHubError(message, status=status, retryable=status >= 500)


def _message(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        # A 422's `errors` say what failed validation ("Hook already exists on this repository").
        details = [e["message"] for e in data.get("errors") or () if isinstance(e, dict)]
        text = ": ".join([data["message"], *(str(d) for d in details if d)])
        return " ".join(text.split())
    return response.reason_phrase or "error"


def _seconds(value: str, *, default: float = SECONDARY_WAIT) -> float:
    try:
        return max(0.0, float(value))
    except ValueError:
        return default


def _repo(owner: str, repo: str) -> str:
    """`/repos/{owner}/{repo}` with both segments escaped."""
    return f"/repos/{quote(owner, safe='')}/{quote(repo, safe='')}"


def _scope(owner: str, repo: str | None) -> str:
    """A repository's API path, or `/orgs/{owner}` when `repo` is None."""
    return f"/orgs/{quote(owner, safe='')}" if repo is None else _repo(owner, repo)
