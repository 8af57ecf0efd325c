"""The scale set's set-up, and which answers are a refusal no retry will change."""

from __future__ import annotations

import httpx
import pytest

from runners_on_demand.errors import GitHubError, GitHubRateLimited, UpstreamError
from runners_on_demand.listen.client import ScaleSetClient
from runners_on_demand.listen.errors import Refused, ServiceError
from runners_on_demand.listen.scope import parse_config_url
from runners_on_demand.listen.settings import ListenSettings
from runners_on_demand.listen.start import refusal, set_up
from runners_on_demand.ports.github_auth import AppAuth, GitHubAuth, PatAuth
from simulator.github import GitHubEmulator
from tests.runners_on_demand.listen.conftest import REPO, TOKEN, Sleeps, control, make_client

WHERE = "GitHub POST /orgs/acme/actions/runners/registration-token"


def on_org(auth: GitHubAuth | None = None) -> ScaleSetClient:
    """A client on the organization acme; nothing is sent."""
    scope = parse_config_url("https://github.com/acme")
    return ScaleSetClient(httpx.AsyncClient(), scope, auth or PatAuth(TOKEN))


class TestRefusal:
    @pytest.mark.parametrize(
        "error",
        [
            GitHubError(f"{WHERE}: 502 Bad Gateway", status=502, retryable=True),
            GitHubRateLimited(f"{WHERE}: 403 API rate limit exceeded", status=403, retry_after=60),
            GitHubRateLimited(f"{WHERE}: 429 Too Many Requests", status=429, retry_after=60),
            ServiceError("POST runner-registration: ConnectError", status=None),
            ServiceError("Actions service: 409 RunnerScaleSetExistsException", status=409),
            ServiceError("Actions service: 408 Request Timeout", status=408),
            ServiceError("Actions service: 2 scale sets named rod", status=200),
        ],
    )
    def test_what_may_pass_is_not_one(self, error: UpstreamError) -> None:
        assert refusal(error, on_org()) is None

    def test_each_refusal_names_what_is_wrong(self) -> None:
        def line(status: int, text: str, client: ScaleSetClient | None = None) -> str | None:
            error = GitHubError(f"{WHERE}: {status} {text}", status=status, retryable=False)
            return refusal(error, client or on_org())

        assert (
            line(401, "Bad credentials")
            == f"GitHub refuses GITHUB_TOKEN: {WHERE}: 401 Bad credentials"
        )
        app = on_org(AppAuth("4242", "key"))
        assert line(401, "Bad credentials", app) == (
            f"GitHub refuses the GitHub App 4242: {WHERE}: 401 Bad credentials"
        )
        scope = parse_config_url("https://github.com/acme")
        installed = ScaleSetClient(
            httpx.AsyncClient(), scope, AppAuth("4242", "k"), installation_id=99
        )
        assert line(404, "Not Found", installed) == (
            "listen.url: https://github.com/acme does not exist, or the GitHub App 4242 "
            f"(listen.installation_id 99) may not administer its runners: {WHERE}: 404 Not Found"
        )
        assert line(403, "Resource not accessible") == (
            f"GITHUB_TOKEN may not administer the runners of acme: {WHERE}: 403 Resource not "
            "accessible"
        )
        assert line(404, "Not Found") == (
            "listen.url: https://github.com/acme does not exist, or GITHUB_TOKEN may not "
            f"administer its runners: {WHERE}: 404 Not Found"
        )
        assert line(422, "Validation Failed") == (
            f"GitHub refuses the scale set: {WHERE}: 422 Validation Failed"
        )


class TestSetUp:
    async def test_gets_or_creates_the_scale_set(
        self, http: httpx.AsyncClient, github: GitHubEmulator
    ) -> None:
        settings = ListenSettings(url=f"{github.url}/{REPO}", labels=("linux", "x64"))
        made = await set_up(make_client(http, github), settings)
        again = await set_up(make_client(http, github), settings)
        assert made == again and sorted(made.labels) == ["linux", "x64"]
        assert [s["id"] for s in control(github, "GET", "scalesets")] == [made.id]

    async def test_a_refusal_is_refused_and_makes_nothing(
        self, http: httpx.AsyncClient, github: GitHubEmulator
    ) -> None:
        settings = ListenSettings(url=f"{github.url}/acme/nope")
        with pytest.raises(Refused, match="404 Not Found") as refused:
            await set_up(make_client(http, github, path="acme/nope"), settings)
        assert refused.value.status == 404 and not refused.value.retryable
        assert control(github, "GET", "scalesets") == []

    async def test_a_transient_failure_is_raised_as_it_is(
        self, http: httpx.AsyncClient, github: GitHubEmulator, sleeps: Sleeps
    ) -> None:
        fault = {"mode": "server_error", "operation": "runner_registration", "count": 5}
        control(github, "POST", "scalesets/faults", fault)
        with pytest.raises(ServiceError) as raised:
            settings = ListenSettings(url=f"{github.url}/{REPO}")
            await set_up(make_client(http, github, sleeps=sleeps), settings)
        assert not isinstance(raised.value, Refused) and raised.value.retryable
        assert len(sleeps.waits) == 4  # the client's own tries, then the listener's backoff
