"""The GitHub port against respx: headers, auth flows, token caching, error mapping."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import formatdate

import httpx
import jwt
import pytest
import respx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from runners_on_demand.contract import JitConfig, RegistrationToken
from runners_on_demand.errors import GitHubError, GitHubRateLimited
from runners_on_demand.ports.github import GitHubHttp
from runners_on_demand.ports.github_auth import TOKEN_MARGIN, AppAuth, GitHubAuth, PatAuth
from runners_on_demand.ports.protocols import RunnerExists
from tests.runners_on_demand.fakes import Clock

API = "https://api.github.test"
NOW = 1_800_000_000.0
JIT_PATH = "/repos/octo/hello/actions/runners/generate-jitconfig"
REG_PATH = "/repos/octo/hello/actions/runners/registration-token"
JIT_BODY = {"name": "rod-42-1", "runner_group_id": 1, "labels": ["self-hosted"]}
JIT_CONFIG = "eyJqaXQiOiJjb25maWcifQ=="
JIT_ANSWER: dict[str, object] = {
    "runner": {"id": 23, "name": "rod-42-1", "os": "unknown", "status": "offline"},
    "encoded_jit_config": JIT_CONFIG,
}


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture(scope="module")
def private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def pem(private_key: rsa.RSAPrivateKey) -> str:
    return private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


@pytest.fixture
def router() -> respx.Router:
    return respx.Router(base_url=API, assert_all_called=False)


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


def port(router: respx.Router, auth: GitHubAuth, clock: Clock) -> GitHubHttp:
    client = httpx.AsyncClient(base_url=API, transport=httpx.MockTransport(router.async_handler))
    return GitHubHttp(client, auth, clock=clock)


class TestGenerateJitconfig:
    async def test_request_shape_and_result(self, router: respx.Router, clock: Clock) -> None:
        route = router.post(JIT_PATH).respond(201, json=JIT_ANSWER)
        result = await port(router, PatAuth("ghp_pat"), clock).generate_jitconfig(
            "octo", "hello", JIT_BODY
        )
        assert result == JitConfig(JIT_CONFIG, runner_id=JIT_ANSWER["runner"]["id"])
        request = route.calls.last.request
        assert request.headers["Authorization"] == "Bearer ghp_pat"
        assert request.headers["Accept"] == "application/vnd.github+json"
        assert request.headers["X-GitHub-Api-Version"] == "2022-11-28"
        assert request.headers["User-Agent"].startswith("runners-on-demand/")
        assert json.loads(request.content) == JIT_BODY

    async def test_enterprise_server_base_path(self, clock: Clock) -> None:
        ghes = respx.Router(assert_all_called=False)
        route = ghes.post(f"https://ghe.test/api/v3{JIT_PATH}").respond(201, json=JIT_ANSWER)
        client = httpx.AsyncClient(
            base_url="https://ghe.test/api/v3", transport=httpx.MockTransport(ghes.async_handler)
        )
        await GitHubHttp(client, PatAuth("t"), clock=clock).generate_jitconfig(
            "octo", "hello", JIT_BODY
        )
        assert route.called

    async def test_409_means_runner_exists(self, router: respx.Router, clock: Clock) -> None:
        router.post(JIT_PATH).respond(409, json={"message": "Already exists"})
        result = await port(router, PatAuth("t"), clock).generate_jitconfig(
            "octo", "hello", JIT_BODY
        )
        assert result == RunnerExists(name="rod-42-1")

    async def test_answer_without_config(self, router: respx.Router, clock: Clock) -> None:
        router.post(JIT_PATH).respond(201, json={"runner": {"id": 1}})
        with pytest.raises(GitHubError, match="encoded_jit_config"):
            await port(router, PatAuth("t"), clock).generate_jitconfig("octo", "hello", JIT_BODY)

    async def test_tracks_rate_limit_remaining(self, router: respx.Router, clock: Clock) -> None:
        router.post(JIT_PATH).respond(201, json=JIT_ANSWER, headers={"x-ratelimit-remaining": "41"})
        github = port(router, PatAuth("t"), clock)
        assert github.rate_limit_remaining is None
        await github.generate_jitconfig("octo", "hello", JIT_BODY)
        assert github.rate_limit_remaining == 41


class TestErrors:
    async def call(self, router: respx.Router, clock: Clock) -> None:
        await port(router, PatAuth("t"), clock).generate_jitconfig("octo", "hello", JIT_BODY)

    async def test_message_and_status(self, router: respx.Router, clock: Clock) -> None:
        router.post(JIT_PATH).respond(
            422, json={"message": "Validation Failed", "documentation_url": "https://docs"}
        )
        with pytest.raises(GitHubError, match="422 Validation Failed") as caught:
            await self.call(router, clock)
        assert caught.value.status == 422
        assert caught.value.retryable is False
        assert not isinstance(caught.value, GitHubRateLimited)

    async def test_5xx_is_retryable(self, router: respx.Router, clock: Clock) -> None:
        router.post(JIT_PATH).respond(502, text="<html>bad gateway</html>")
        with pytest.raises(GitHubError) as caught:
            await self.call(router, clock)
        assert caught.value.retryable is True
        assert caught.value.status == 502

    async def test_connection_error_is_retryable(self, router: respx.Router, clock: Clock) -> None:
        router.post(JIT_PATH).mock(side_effect=httpx.ConnectTimeout("slow"))
        with pytest.raises(GitHubError) as caught:
            await self.call(router, clock)
        assert caught.value.retryable is True
        assert caught.value.status is None

    async def test_primary_rate_limit_waits_for_reset(
        self, router: respx.Router, clock: Clock
    ) -> None:
        headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) + 120)}
        router.post(JIT_PATH).respond(
            403, json={"message": "API rate limit exceeded"}, headers=headers
        )
        with pytest.raises(GitHubRateLimited) as caught:
            await self.call(router, clock)
        assert caught.value.retry_after == 120
        assert caught.value.status == 403
        assert caught.value.retryable is True

    async def test_primary_rate_limit_counts_from_githubs_clock(
        self, router: respx.Router, clock: Clock
    ) -> None:
        # Our clock 300 s ahead: the wait is still the 120 s GitHub's own Date says are left.
        clock.now += 300
        headers = {
            "x-ratelimit-remaining": "0",
            "x-ratelimit-reset": str(int(NOW) + 120),
            "date": formatdate(NOW, usegmt=True),
        }
        router.post(JIT_PATH).respond(
            403, json={"message": "API rate limit exceeded"}, headers=headers
        )
        with pytest.raises(GitHubRateLimited) as caught:
            await self.call(router, clock)
        assert caught.value.retry_after == 120

    async def test_retry_after_header_wins(self, router: respx.Router, clock: Clock) -> None:
        router.post(JIT_PATH).respond(
            429, json={"message": "slow down"}, headers={"retry-after": "7"}
        )
        with pytest.raises(GitHubRateLimited) as caught:
            await self.call(router, clock)
        assert caught.value.retry_after == 7
        assert caught.value.status == 429

    async def test_a_bare_429_waits_a_minute(self, router: respx.Router, clock: Clock) -> None:
        # "Otherwise, wait for at least one minute before retrying" (rate limits for the REST API)
        router.post(JIT_PATH).respond(429, json={"message": "Too Many Requests"})
        with pytest.raises(GitHubRateLimited) as caught:
            await self.call(router, clock)
        assert (caught.value.retry_after, caught.value.status) == (60, 429)

    async def test_secondary_limit_without_headers(
        self, router: respx.Router, clock: Clock
    ) -> None:
        message = "You have exceeded a secondary rate limit. Please wait a few minutes."
        router.post(JIT_PATH).respond(403, json={"message": message})
        with pytest.raises(GitHubRateLimited) as caught:
            await self.call(router, clock)
        assert caught.value.retry_after == 60

    async def test_plain_403_is_not_a_rate_limit(self, router: respx.Router, clock: Clock) -> None:
        router.post(JIT_PATH).respond(
            403,
            json={"message": "Resource not accessible by integration"},
            headers={"x-ratelimit-remaining": "4999"},
        )
        with pytest.raises(GitHubError) as caught:
            await self.call(router, clock)
        assert not isinstance(caught.value, GitHubRateLimited)
        assert caught.value.retryable is False


class TestRegistrationToken:
    async def test_cached_until_shortly_before_expiry(
        self, router: respx.Router, clock: Clock
    ) -> None:
        answers = iter(["AAA", "BBB"])
        route = router.post(REG_PATH).mock(
            side_effect=lambda request: httpx.Response(
                201, json={"token": next(answers), "expires_at": iso(clock.now + 3600)}
            )
        )
        github = port(router, PatAuth("t"), clock)
        first = await github.create_registration_token("octo", "hello")
        assert first == RegistrationToken(token="AAA")
        clock.now += 3600 - TOKEN_MARGIN - 1
        assert await github.create_registration_token("Octo", "Hello") == first
        assert route.call_count == 1
        clock.now += 2
        assert await github.create_registration_token("octo", "hello") == RegistrationToken("BBB")
        assert route.call_count == 2

    async def test_cache_is_per_repository(self, router: respx.Router, clock: Clock) -> None:
        answer = {"token": "T", "expires_at": iso(NOW + 3600)}
        one = router.post(REG_PATH).respond(201, json=answer)
        other = router.post("/repos/octo/other/actions/runners/registration-token").respond(
            201, json=answer
        )
        github = port(router, PatAuth("t"), clock)
        await github.create_registration_token("octo", "hello")
        await github.create_registration_token("octo", "other")
        assert (one.call_count, other.call_count) == (1, 1)


class TestAppAuth:
    def mock_app(self, router: respx.Router, clock: Clock) -> tuple[respx.Route, respx.Route]:
        lookup = router.get("/repos/octo/hello/installation").respond(200, json={"id": 777})
        tokens = iter(["ghs_first", "ghs_second"])
        mint = router.post("/app/installations/777/access_tokens").mock(
            side_effect=lambda request: httpx.Response(
                201, json={"token": next(tokens), "expires_at": iso(clock.now + 3600)}
            )
        )
        return lookup, mint

    async def test_jwt_then_installation_token(
        self, router: respx.Router, clock: Clock, pem: str, private_key: rsa.RSAPrivateKey
    ) -> None:
        lookup, mint = self.mock_app(router, clock)
        jit = router.post(JIT_PATH).respond(201, json=JIT_ANSWER)
        github = port(router, AppAuth("12345", pem), clock)
        await github.generate_jitconfig("octo", "hello", JIT_BODY)

        for route in (lookup, mint):
            scheme, token = route.calls.last.request.headers["Authorization"].split(" ")
            assert scheme == "Bearer"
            claims = jwt.decode(
                token,
                private_key.public_key(),
                algorithms=["RS256"],
                options={"verify_exp": False, "verify_iat": False},
            )
            assert claims["iss"] == "12345"
            assert claims["iat"] == int(NOW) - 60
            assert int(NOW) < claims["exp"] <= int(NOW) + 600
        assert jit.calls.last.request.headers["Authorization"] == "Bearer ghs_first"

    async def test_installation_token_cached_until_expiry(
        self, router: respx.Router, clock: Clock, pem: str
    ) -> None:
        lookup, mint = self.mock_app(router, clock)
        jit = router.post(JIT_PATH).respond(201, json=JIT_ANSWER)
        github = port(router, AppAuth("12345", pem), clock)
        await github.generate_jitconfig("octo", "hello", JIT_BODY)
        clock.now += 3600 - TOKEN_MARGIN - 1
        await github.generate_jitconfig("octo", "hello", JIT_BODY)
        assert (lookup.call_count, mint.call_count) == (1, 1)
        clock.now += 2
        await github.generate_jitconfig("octo", "hello", JIT_BODY)
        assert (lookup.call_count, mint.call_count) == (1, 2)
        assert jit.calls.last.request.headers["Authorization"] == "Bearer ghs_second"

    async def test_installation_id_from_payload_skips_lookup(
        self, router: respx.Router, clock: Clock, pem: str
    ) -> None:
        lookup, mint = self.mock_app(router, clock)
        router.post(REG_PATH).respond(201, json={"token": "R", "expires_at": iso(NOW + 3600)})
        github = port(router, AppAuth("12345", pem), clock)
        await github.create_registration_token("octo", "hello", installation_id=777)
        assert lookup.call_count == 0
        assert mint.call_count == 1

    async def test_401_drops_cached_token_and_is_retryable(
        self, router: respx.Router, clock: Clock, pem: str
    ) -> None:
        _, mint = self.mock_app(router, clock)
        router.post(JIT_PATH).mock(
            side_effect=[
                httpx.Response(401, json={"message": "Bad credentials"}),
                httpx.Response(201, json=JIT_ANSWER),
            ]
        )
        github = port(router, AppAuth("12345", pem), clock)
        with pytest.raises(GitHubError) as caught:
            await github.generate_jitconfig("octo", "hello", JIT_BODY, installation_id=777)
        assert caught.value.retryable is True
        await github.generate_jitconfig("octo", "hello", JIT_BODY, installation_id=777)
        assert mint.call_count == 2

    async def test_a_reinstalled_app_is_looked_up_again(
        self, router: respx.Router, clock: Clock, pem: str
    ) -> None:
        # Repository hooks carry no `installation`: the id is looked up, and kept. Uninstalled
        # and installed again, the App has a new id; the old one's tokens answer 404.
        installation = {"id": 777}
        lookup = router.get("/repos/octo/hello/installation").mock(
            side_effect=lambda request: httpx.Response(200, json=dict(installation))
        )

        def mint(request: httpx.Request) -> httpx.Response:
            if request.url.path != f"/app/installations/{installation['id']}/access_tokens":
                return httpx.Response(404, json={"message": "Not Found"})
            token = f"ghs_{installation['id']}"
            return httpx.Response(201, json={"token": token, "expires_at": iso(clock.now + 3600)})

        router.post(path__regex=r"^/app/installations/\d+/access_tokens$").mock(side_effect=mint)
        jit = router.post(JIT_PATH).respond(201, json=JIT_ANSWER)
        github = port(router, AppAuth("12345", pem), clock)
        await github.generate_jitconfig("octo", "hello", JIT_BODY)
        installation["id"] = 888
        clock.now += 3600  # the old token has expired
        with pytest.raises(GitHubError) as caught:
            await github.generate_jitconfig("octo", "hello", JIT_BODY)
        assert caught.value.status == 404 and caught.value.retryable is True
        await github.generate_jitconfig("octo", "hello", JIT_BODY)  # the retry
        assert lookup.call_count == 2
        assert jit.calls.last.request.headers["Authorization"] == "Bearer ghs_888"

    async def test_a_gone_installation_named_by_the_payload_is_not_retried(
        self, router: respx.Router, clock: Clock, pem: str
    ) -> None:
        router.post("/app/installations/777/access_tokens").respond(404, json={"message": "x"})
        github = port(router, AppAuth("12345", pem), clock)
        with pytest.raises(GitHubError) as caught:
            await github.generate_jitconfig("octo", "hello", JIT_BODY, installation_id=777)
        assert (caught.value.status, caught.value.retryable) == (404, False)


class TestCheck:
    async def test_pat_uses_rate_limit(self, router: respx.Router, clock: Clock) -> None:
        route = router.get("/rate_limit").respond(
            200, json={"resources": {}}, headers={"x-ratelimit-remaining": "4990"}
        )
        github = port(router, PatAuth("t"), clock)
        await github.check()
        assert route.called
        assert github.rate_limit_remaining == 4990

    async def test_app_uses_app_endpoint(
        self, router: respx.Router, clock: Clock, pem: str
    ) -> None:
        route = router.get("/app").respond(200, json={"id": 12345})
        await port(router, AppAuth("12345", pem), clock).check()
        assert route.calls.last.request.headers["Authorization"].startswith("Bearer ey")

    async def test_bad_credentials_fail(self, router: respx.Router, clock: Clock) -> None:
        router.get("/rate_limit").respond(401, json={"message": "Bad credentials"})
        with pytest.raises(GitHubError, match="Bad credentials"):
            await port(router, PatAuth("t"), clock).check()

    async def test_rate_limited_is_still_ready(self, router: respx.Router, clock: Clock) -> None:
        router.get("/rate_limit").respond(429, json={"message": "x"}, headers={"retry-after": "9"})
        await port(router, PatAuth("t"), clock).check()

    async def test_unreachable_fails(self, router: respx.Router, clock: Clock) -> None:
        router.get("/rate_limit").mock(side_effect=httpx.ConnectError("refused"))
        with pytest.raises(GitHubError, match="ConnectError"):
            await port(router, PatAuth("t"), clock).check()


class TestSecrets:
    def test_repr_hides_credentials(self, pem: str) -> None:
        assert "ghp_secret" not in repr(PatAuth("ghp_secret"))
        assert "PRIVATE KEY" not in repr(AppAuth("1", pem))
