"""Admin tokens of the emulated Actions service: JWTs whose `exp` follows the emulator clock.

The real client reads `exp` from the admin token without verifying it and renews the token
(registration token, then runner-registration) when less than 60 s are left ([S] client.go
`updateTokenIfNeeded`); the lifetime of GitHub's tokens is not known (simulator/README.md).
"""

from __future__ import annotations

import secrets

import jwt

from simulator.clock import Clock
from simulator.github.scaleset_errors import Unauthorized


class AdminTokens:
    """Issues and checks admin tokens; each names the scope (`owner/repo` or `org`) it serves."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._secret = secrets.token_bytes(32)

    def issue(self, scope: str, lifetime: float) -> str:
        """A signed JWT for `scope`, valid for `lifetime` seconds of emulator time."""
        now = int(self.clock.now())
        claims = {"iss": "rod-sim", "sub": scope, "iat": now, "nbf": now, "exp": now + lifetime}
        return jwt.encode(claims, self._secret, algorithm="HS256")

    def scope(self, authorization: str | None) -> str:
        """The scope of a valid, unexpired `Authorization: Bearer <JWT>`; 401 otherwise."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized()
        try:
            claims = jwt.decode(
                token.strip(),
                self._secret,
                algorithms=["HS256"],
                options={"verify_exp": False, "verify_nbf": False, "verify_iat": False},
            )
        except jwt.PyJWTError:
            raise Unauthorized() from None
        if claims.get("exp", 0) <= self.clock.now():
            raise Unauthorized()
        return str(claims["sub"])
