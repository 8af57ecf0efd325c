"""GitHub credentials for the GitHub adapter: a personal access token or a GitHub App.

An App signs a JWT (RS256) and exchanges it for installation tokens, cached until shortly before
they expire. The requests themselves are made by the adapter (`github.GitHubHttp`), which hands
its request function in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

from runners_on_demand.errors import GitHubError

# Refresh a cached token this long before GitHub's `expires_at` (tokens live one hour).
TOKEN_MARGIN = 300.0
# JWT lifetime: GitHub accepts at most 10 minutes; iat is backdated 60 s for clock drift.
# https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/generating-a-json-web-token-jwt-for-a-github-app
JWT_LIFETIME = 540

# (method, path, Authorization header value) -> the answer's JSON object.
Call = Callable[[str, str, str], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class PatAuth:
    """A personal access token (classic or fine-grained), sent as a Bearer token."""

    token: str = field(repr=False)


@dataclass(frozen=True)
class AppAuth:
    """A GitHub App: its id and PEM private key, exchanged for installation tokens."""

    app_id: str
    private_key: str = field(repr=False)


GitHubAuth = PatAuth | AppAuth


@dataclass
class _Cached:
    """A token and the epoch second it expires."""

    value: str = field(repr=False)
    expires_at: float


class Authorizer:
    """The `Authorization` header for a repository's calls, from a token or an App."""

    def __init__(self, auth: GitHubAuth, clock: Callable[[], float]) -> None:
        self.auth = auth
        self._clock = clock
        self._lock = asyncio.Lock()
        self._installation_ids: dict[str, int] = {}
        self._installation_tokens: dict[int, _Cached] = {}

    @property
    def holds_installation_token(self) -> bool:
        """Whether an installation token is cached (a 401 then means it expired early)."""
        return bool(self._installation_tokens)

    def forget_installation_tokens(self) -> None:
        """Drop cached installation tokens (expired or revoked early): the next call re-fetches."""
        self._installation_tokens.clear()

    def rate_key(self, authorization: str) -> str:
        """Whose rate limit a call with this header spends: the token, an installation, the App."""
        # https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api
        if isinstance(self.auth, PatAuth):
            return "token"
        value = authorization.removeprefix("Bearer ")
        for installation_id, cached in self._installation_tokens.items():
            if cached.value == value:
                return f"installation {installation_id}"
        return "app"

    def app_or_token(self) -> str:
        """The header for calls as the App itself (JWT), or with the token."""
        if isinstance(self.auth, PatAuth):
            return f"Bearer {self.auth.token}"
        return f"Bearer {self.app_jwt()}"

    async def for_repo(
        self, owner: str, repo: str | None, installation_id: int | None, call: Call
    ) -> str:
        """The header for a call on `owner/repo` (or the organization `owner` when `repo` is
        None); installation tokens are cached."""
        if isinstance(self.auth, PatAuth):
            return f"Bearer {self.auth.token}"
        async with self._lock:
            if installation_id is None:
                installation_id = await self._installation_id(owner, repo, call)
            cached = self._installation_tokens.get(installation_id)
            if cached is None or cached.expires_at - TOKEN_MARGIN <= self._clock():
                cached = await self._installation_token(installation_id, call)
                self._installation_tokens[installation_id] = cached
            return f"Bearer {cached.value}"

    async def _installation_id(self, owner: str, repo: str | None, call: Call) -> int:
        # https://docs.github.com/en/rest/apps/apps#get-a-repository-installation-for-the-authenticated-app
        # https://docs.github.com/en/rest/apps/apps#get-an-organization-installation-for-the-authenticated-app
        key = owner.lower() if repo is None else f"{owner}/{repo}".lower()
        if key not in self._installation_ids:
            if repo is None:
                path = f"/orgs/{quote(owner, safe='')}/installation"
            else:
                path = f"/repos/{quote(owner, safe='')}/{quote(repo, safe='')}/installation"
            data = await call("GET", path, f"Bearer {self.app_jwt()}")
            try:
                self._installation_ids[key] = int(data["id"])
            except (KeyError, TypeError, ValueError) as error:
                raise GitHubError(f"GitHub GET {path}: unexpected answer", status=200) from error
        return self._installation_ids[key]

    async def _installation_token(self, installation_id: int, call: Call) -> _Cached:
        # https://docs.github.com/en/rest/apps/apps#create-an-installation-access-token-for-an-app
        path = f"/app/installations/{installation_id}/access_tokens"
        try:
            data = await call("POST", path, f"Bearer {self.app_jwt()}")
        except GitHubError as error:
            # Uninstalled, perhaps installed again under a new id: an id this process looked up
            # is forgotten, and the retry looks the installation up again.
            known = self._installation_ids
            kept = {key: found for key, found in known.items() if found != installation_id}
            if error.status == 404 and len(kept) < len(known):
                self._installation_ids = kept
                error.retryable = True
            raise
        token, expires_at = token_and_expiry(data, path)
        return _Cached(token, expires_at)

    def app_jwt(self) -> str:
        """A fresh App JWT."""
        import jwt  # here: PyJWT loads cryptography (about 9 MB), which only App mode needs

        assert isinstance(self.auth, AppAuth)
        now = int(self._clock())
        claims = {"iat": now - 60, "exp": now + JWT_LIFETIME, "iss": self.auth.app_id}
        return jwt.encode(claims, self.auth.private_key, algorithm="RS256")


def token_and_expiry(data: Mapping[str, Any], path: str) -> tuple[str, float]:
    """`token` and `expires_at` (as epoch seconds) of a token answer."""
    try:
        expires = datetime.fromisoformat(str(data["expires_at"])).timestamp()
        return str(data["token"]), expires
    except (KeyError, ValueError) as error:
        raise GitHubError(f"GitHub POST {path}: unexpected answer", status=201) from error
