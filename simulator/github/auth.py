"""Credentials: personal tokens, GitHub App JWTs, installation tokens, and the primary rate limit.

Facts relied on (github/docs):
- `Authorization: Bearer <T>` or `token <T>`; none -> 401 "Requires authentication", a wrong one
  -> 401 "Bad credentials";
- an App JWT is RS256 with `iat`, `exp` (at most 10 minutes ahead) and `iss` (the App ID)
  (apps/creating-github-apps/authenticating-with-a-github-app/generating-a-json-web-token-jwt-for-a-github-app);
- an installation token lasts one hour;
- `x-ratelimit-*` headers on every response; 403 with remaining 0 once the budget is spent
  (rest/using-the-rest-api/rate-limits-for-the-rest-api).
Time comes from the controllable clock, so expiry is testable without sleeping.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass, field

import jwt

from simulator.clock import Clock
from simulator.github.errors import BadCredentials, RateLimited, RequiresAuthentication

TOKEN_LIFETIME = 3600.0
JWT_MAX_LIFETIME = 600.0
ANONYMOUS_LIMIT = 60


@dataclass(frozen=True)
class Principal:
    """Who is calling: a `user` (PAT), an `installation` token, the `app` (JWT) or `anonymous`."""

    kind: str
    key: str
    subject_id: int
    installation_id: int | None = None
    admin: bool = True  # may administer the repositories and orgs it sees (hooks, runners)


@dataclass
class Window:
    """One principal's rate-limit window."""

    limit: int
    reset: float
    used: int = 0

    @property
    def remaining(self) -> int:
        """Requests left in this window."""
        return max(self.limit - self.used, 0)

    def headers(self) -> dict[str, str]:
        """GitHub's x-ratelimit-* response headers."""
        return {
            "x-ratelimit-limit": str(self.limit),
            "x-ratelimit-remaining": str(self.remaining),
            "x-ratelimit-used": str(self.used),
            "x-ratelimit-reset": str(math.ceil(self.reset)),
            "x-ratelimit-resource": "core",
        }


@dataclass
class Credentials:
    """Known tokens, installation tokens, the App's public key, and rate-limit windows."""

    clock: Clock
    tokens: dict[str, int]  # personal token -> user id
    rate_limit: int = 5000
    app_id: int | None = None
    app_public_key: str | None = None
    installation_tokens: dict[str, tuple[int, float]] = field(default_factory=dict)
    non_admin: set[str] = field(default_factory=set)  # personal tokens without admin rights
    windows: dict[str, Window] = field(default_factory=dict)

    def authenticate(self, authorization: str | None, *, app: bool = False) -> Principal:
        """The caller behind an Authorization header; `app=True` for JWT-only endpoints."""
        if not authorization:
            raise RequiresAuthentication()
        scheme, _, credential = authorization.strip().partition(" ")
        credential = credential.strip()
        if scheme.lower() not in ("bearer", "token") or not credential:
            raise BadCredentials()
        if app:
            return self._verify_jwt(credential)
        if credential in self.tokens:
            user_id = self.tokens[credential]
            return Principal(
                "user", f"user:{user_id}", user_id, admin=credential not in self.non_admin
            )
        installation = self.installation_tokens.get(credential)
        if installation is not None and installation[1] > self.clock.now():
            iid = installation[0]
            return Principal("installation", f"installation:{iid}", iid, iid)
        raise BadCredentials()

    def identify(self, authorization: str | None) -> Principal | None:
        """The caller behind any credential GitHub takes (a token or an App JWT), None when
        none was sent; 401 for one it refuses."""
        if not authorization:
            return None
        try:
            return self.authenticate(authorization)
        except BadCredentials:
            if authorization.count(".") != 2:  # not shaped like a JWT
                raise
            return self.authenticate(authorization, app=True)

    def _verify_jwt(self, token: str) -> Principal:
        if self.app_id is None or self.app_public_key is None:
            raise BadCredentials("A JSON web token could not be decoded")
        try:
            claims = jwt.decode(
                token,
                self.app_public_key,
                algorithms=["RS256"],
                options={
                    "require": ["iat", "exp", "iss"],
                    "verify_exp": False,
                    "verify_iat": False,
                },
            )
        except jwt.PyJWTError as exc:
            raise BadCredentials("A JSON web token could not be decoded") from exc
        now = self.clock.now()
        if str(claims["iss"]) != str(self.app_id):
            raise BadCredentials(f"'Issuer' claim ('iss') must be an Integer: {claims['iss']}")
        if not isinstance(claims["exp"], int | float) or claims["exp"] <= now:
            raise BadCredentials(
                "'Expiration time' claim ('exp') must be a numeric value representing the future"
                " time at which the assertion expires"
            )
        if claims["exp"] > now + JWT_MAX_LIFETIME + 30:  # a little leeway for clock drift
            raise BadCredentials("'Expiration time' claim ('exp') is too far in the future")
        if not isinstance(claims["iat"], int | float) or claims["iat"] > now + 60:
            raise BadCredentials(
                "'Issued at' claim ('iat') must be an Integer representing the time that the"
                " assertion was issued"
            )
        return Principal("app", f"app:{self.app_id}", self.app_id)

    def issue_installation_token(self, installation_id: int) -> tuple[str, float]:
        """A new `ghs_` token for an installation, valid for one hour of emulated time."""
        token = "ghs_" + secrets.token_urlsafe(27)
        expires_at = self.clock.now() + TOKEN_LIFETIME
        self.installation_tokens[token] = (installation_id, expires_at)
        return token, expires_at

    def window(self, principal: Principal | None) -> Window:
        """The current rate-limit window of a principal (anonymous when None)."""
        key = principal.key if principal else "anonymous"
        now = self.clock.now()
        window = self.windows.get(key)
        if window is None or window.reset <= now:
            limit = self.rate_limit if principal else ANONYMOUS_LIMIT
            window = self.windows[key] = Window(limit, now + 3600)
        return window

    def refund(self, principal: Principal) -> None:
        """Give one request back (a 304 to an authorized conditional request is free)."""
        window = self.window(principal)
        window.used = max(window.used - 1, 0)

    def charge(self, principal: Principal | None) -> Window:
        """Count one request; RateLimited once the window's budget is spent."""
        window = self.window(principal)
        if window.remaining == 0:
            raise RateLimited(f"API rate limit exceeded for {_whom(principal)}.")
        window.used += 1
        return window


def _whom(principal: Principal | None) -> str:
    """Who spent the budget, as GitHub's message names it: `installation ID N` for an
    installation token (e.g. upptime/upptime#786, bobheadxi/deployments#67), else `user ID N`."""
    if principal is None:
        return "user ID 0"
    if principal.installation_id is not None:
        return f"installation ID {principal.installation_id}"
    return f"user ID {principal.subject_id}"
