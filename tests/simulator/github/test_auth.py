"""Credentials: tokens, App JWTs, installation-token expiry and rate-limit windows."""

from __future__ import annotations

import time

import jwt
import pytest

from simulator.clock import Clock
from simulator.github.auth import Credentials
from simulator.github.errors import BadCredentials, RateLimited, RequiresAuthentication

APP_ID = 77


@pytest.fixture
def creds(app_key: tuple[str, str]) -> Credentials:
    return Credentials(Clock(), {"pat": 1}, rate_limit=3, app_id=APP_ID, app_public_key=app_key[1])


def _jwt(key: str, **claims: object) -> str:
    now = int(time.time())
    return jwt.encode(
        {"iat": now - 60, "exp": now + 540, "iss": str(APP_ID)} | claims, key, "RS256"
    )


class TestAuthenticate:
    def test_personal_token_in_both_schemes(self, creds: Credentials) -> None:
        assert creds.authenticate("Bearer pat").kind == "user"
        assert creds.authenticate("token pat").kind == "user"

    def test_missing_and_wrong(self, creds: Credentials) -> None:
        with pytest.raises(RequiresAuthentication):
            creds.authenticate(None)
        with pytest.raises(BadCredentials):
            creds.authenticate("Bearer wrong")

    def test_app_jwt(self, creds: Credentials, app_key: tuple[str, str]) -> None:
        principal = creds.authenticate(f"Bearer {_jwt(app_key[0])}", app=True)
        assert (principal.kind, principal.subject_id) == ("app", APP_ID)

    def test_jwt_signed_by_another_key(self, creds: Credentials) -> None:
        other = jwt.encode({"iat": 0, "exp": 1, "iss": "77"}, "not-an-rsa-key-" * 4, "HS256")
        with pytest.raises(BadCredentials, match="could not be decoded"):
            creds.authenticate(f"Bearer {other}", app=True)

    def test_jwt_expiry_follows_the_emulated_clock(
        self, creds: Credentials, app_key: tuple[str, str]
    ) -> None:
        token = _jwt(app_key[0])
        creds.clock.advance(600)
        with pytest.raises(BadCredentials, match="Expiration time"):
            creds.authenticate(f"Bearer {token}", app=True)

    def test_installation_token_lasts_one_hour(self, creds: Credentials) -> None:
        token, expires = creds.issue_installation_token(5)
        assert expires - creds.clock.now() == pytest.approx(3600, abs=1)
        assert creds.authenticate(f"token {token}").installation_id == 5
        creds.clock.advance(3600)
        with pytest.raises(BadCredentials):
            creds.authenticate(f"token {token}")


class TestIdentify:
    def test_a_token_or_the_apps_jwt_or_nothing(
        self, creds: Credentials, app_key: tuple[str, str]
    ) -> None:
        assert creds.identify(None) is None
        user, app = creds.identify("token pat"), creds.identify(f"Bearer {_jwt(app_key[0])}")
        assert (user and user.kind, app and app.kind) == ("user", "app")

    @pytest.mark.parametrize("authorization", ["Bearer wrong", "Bearer a.b.c", "Basic x"])
    def test_refused_credentials_are_401(self, creds: Credentials, authorization: str) -> None:
        with pytest.raises(BadCredentials):
            creds.identify(authorization)


class TestRateLimit:
    def test_budget_then_refused_then_a_new_window(self, creds: Credentials) -> None:
        user = creds.authenticate("token pat")
        assert [creds.charge(user).remaining for _ in range(3)] == [2, 1, 0]
        with pytest.raises(RateLimited):
            creds.charge(user)
        creds.clock.advance(3600)
        assert creds.charge(user).remaining == 2

    def test_the_message_names_the_installation_or_the_user(self, creds: Credentials) -> None:
        # e.g. "API rate limit exceeded for installation ID 12770951." (bobheadxi/deployments#67)
        token, _ = creds.issue_installation_token(12770951)
        for authorization, whom in (
            (f"token {token}", "installation ID 12770951"),
            ("token pat", "user ID 1"),
        ):
            principal = creds.authenticate(authorization)
            for _ in range(3):
                creds.charge(principal)
            with pytest.raises(RateLimited, match=f"^API rate limit exceeded for {whom}\\.$"):
                creds.charge(principal)

    def test_anonymous_callers_get_sixty(self, creds: Credentials) -> None:
        assert creds.window(None).limit == 60
