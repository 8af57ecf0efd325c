"""The protocol client against the GitHub emulator over real HTTP: the auth chain, the admin
calls, the message queue and the faults a listener meets in the field."""

from __future__ import annotations

import time

import httpx
import pytest

from runners_on_demand.errors import GitHubError, GitHubRateLimited
from runners_on_demand.listen.errors import (
    AgentExists,
    EmptyAnswer,
    NotFound,
    ScaleSetExists,
    ServiceError,
    SessionConflict,
    Unauthorized,
)
from runners_on_demand.ports.github_auth import AppAuth, PatAuth
from simulator.github import GitHubEmulator
from tests.runners_on_demand.listen.conftest import (
    APP_ID,
    REPO,
    TOKEN,
    Sleeps,
    calls,
    control,
    make_client,
    queue_job,
    runner_secret,
)

REGISTRATION = "/api/v3/actions/runner-registration"


class TestAuthChain:
    async def test_the_admin_token_is_kept_until_a_minute_before_it_expires(
        self, http: httpx.AsyncClient, github: GitHubEmulator
    ) -> None:
        now = [time.time()]
        client = make_client(http, github, clock=lambda: now[0])
        assert await client.runner_group("Default") == 1
        assert await client.runner_group("default") == 1
        assert calls(github, "POST", REGISTRATION) == 1
        now[0] += 3600 - 59  # the emulator's admin tokens last an hour
        assert await client.runner_group("Default") == 1
        assert calls(github, "POST", REGISTRATION) == 2

    async def test_a_401_on_an_admin_call_renews_the_token_once(
        self, http: httpx.AsyncClient, github: GitHubEmulator
    ) -> None:
        client = make_client(http, github)
        control(
            github,
            "POST",
            "scalesets/faults",
            {"mode": "unauthorized", "operation": "get_runner_groups"},
        )
        assert await client.runner_group("Default") == 1
        assert calls(github, "POST", REGISTRATION) == 2

    async def test_an_unknown_group_is_none(
        self, http: httpx.AsyncClient, github: GitHubEmulator
    ) -> None:
        assert await make_client(http, github).runner_group("gpu") is None

    async def test_a_github_app_works_through_its_installation_token(
        self, http: httpx.AsyncClient, github: GitHubEmulator, app_key: tuple[str, str]
    ) -> None:
        client = make_client(http, github, auth=AppAuth(str(APP_ID), app_key[0]))
        assert await client.runner_group("Default") == 1
        assert calls(github, "POST", "/api/v3/app/installations/*/access_tokens") == 1

    async def test_a_github_app_finds_its_installation_on_an_organization(
        self, http: httpx.AsyncClient, github: GitHubEmulator, app_key: tuple[str, str]
    ) -> None:
        auth = AppAuth(str(APP_ID), app_key[0])
        client = make_client(http, github, path="acme", auth=auth)
        assert await client.runner_group("Default") == 1
        assert calls(github, "GET", "/api/v3/orgs/acme/installation") == 1

    async def test_an_organization_scope(
        self, http: httpx.AsyncClient, github: GitHubEmulator
    ) -> None:
        client = make_client(http, github, path="acme")
        scale_set = await client.create_scale_set("org-wide", 1, ("rod",))
        assert scale_set.group_id == 1
        assert calls(github, "POST", "/api/v3/orgs/acme/actions/runners/registration-token") == 1

    async def test_bad_credentials_are_github_errors(
        self, http: httpx.AsyncClient, github: GitHubEmulator
    ) -> None:
        client = make_client(http, github, auth=PatAuth("ghp_wrong"))
        with pytest.raises(GitHubError, match="401 Bad credentials") as raised:
            await client.runner_group("Default")
        assert "ghp_wrong" not in str(raised.value)

    async def test_a_spent_rate_limit_on_the_rest_calls_says_how_long_to_wait(
        self, http: httpx.AsyncClient
    ) -> None:
        # GitHub's primary limit: 403, x-ratelimit-remaining 0, reset in the window's end
        # (rest/using-the-rest-api/rate-limits-for-the-rest-api); the emulator's window is 1 h.
        spent = GitHubEmulator(repos=[REPO], tokens=[TOKEN], rate_limit=0)
        with spent:
            client = make_client(http, spent)
            with pytest.raises(GitHubRateLimited, match="403 API rate limit exceeded") as raised:
                await client.runner_group("Default")
            with pytest.raises(GitHubRateLimited) as listing:
                await client.list_runners()
        assert raised.value.status == 403
        # x-ratelimit-reset is in whole seconds; Listener.run waits at least this long.
        assert 3500 < raised.value.retry_after <= 3601
        assert listing.value.retry_after > 3500


class TestScaleSetsAndSessions:
    async def test_get_or_create_and_labels(
        self, http: httpx.AsyncClient, github: GitHubEmulator
    ) -> None:
        client = make_client(http, github)
        assert await client.find_scale_set(1, "rod") is None
        made = await client.create_scale_set("rod", 1, ("self-hosted", "linux"))
        assert made.labels == ("self-hosted", "linux")
        assert await client.find_scale_set(1, "rod") == made
        with pytest.raises(ScaleSetExists):
            await client.create_scale_set("rod", 1, ("x",))
        assert (await client.update_labels(made.id, ("gpu",))).labels == ("gpu",)

    async def test_one_session_at_a_time_renewed_and_deleted(
        self, http: httpx.AsyncClient, github: GitHubEmulator
    ) -> None:
        client = make_client(http, github)
        scale_set = await client.create_scale_set("rod", 1, ("rod",))
        session = await client.create_session(scale_set.id, "host-a")
        with pytest.raises(SessionConflict, match="already has an active session"):
            await client.create_session(scale_set.id, "host-b")
        renewed = await client.refresh_session(session)
        assert renewed.id == session.id and renewed.queue_token != session.queue_token
        await client.delete_session(renewed)
        await client.delete_session(renewed)  # gone already: fine
        with pytest.raises(NotFound):
            await client.refresh_session(renewed)
        assert (await client.create_session(scale_set.id, "host-b")).id != session.id


class TestMessageQueue:
    async def test_hold_then_202_message_acquire_ack(
        self, http: httpx.AsyncClient, github: GitHubEmulator
    ) -> None:
        client = make_client(http, github)
        scale_set = await client.create_scale_set("rod", 1, ("rod",))
        session = await client.create_session(scale_set.id, "host")
        assert await client.get_message(session, 0, 5) is None  # 202 after the hold
        job_id = queue_job(github, ["rod"])
        message = await client.get_message(session, 0, 5)
        assert message is not None
        (available,) = message.entries
        assert (available.kind, available.display_name, available.owner, available.repo) == (
            "JobAvailable",
            "build",
            "acme",
            "app",
        )
        assert message.statistics.available == 1
        assert await client.acquire_jobs(session, [available.request_id]) == [available.request_id]
        await client.delete_message(session, message.id)
        assigned = await client.get_message(session, message.id, 5)
        assert assigned is not None
        assert [e.kind for e in assigned.entries] == ["JobAssigned"]
        assert assigned.statistics.assigned == 1
        (dump,) = control(github, "GET", "scalesets")
        assert dump["max_capacity"] == 5
        assert [r["job_id"] for r in dump["requests"]] == [job_id]

    async def test_a_bom_is_stripped(self, http: httpx.AsyncClient, github: GitHubEmulator) -> None:
        client = make_client(http, github)
        session = await client.create_session(
            (await client.create_scale_set("rod", 1, ("rod",))).id, "h"
        )
        queue_job(github, ["rod"])
        control(github, "POST", "scalesets/faults", {"mode": "bom", "operation": "get_message"})
        message = await client.get_message(session, 0, 5)
        assert message is not None and message.entries[0].kind == "JobAvailable"

    async def test_an_empty_200_is_transient(
        self, http: httpx.AsyncClient, github: GitHubEmulator
    ) -> None:
        client = make_client(http, github)
        session = await client.create_session(
            (await client.create_scale_set("rod", 1, ("rod",))).id, "h"
        )
        control(github, "POST", "scalesets/faults", {"mode": "empty", "operation": "get_message"})
        with pytest.raises(EmptyAnswer) as raised:
            await client.get_message(session, 0, 5)
        assert raised.value.retryable

    async def test_429_waits_retry_after_then_succeeds(
        self, http: httpx.AsyncClient, github: GitHubEmulator, sleeps: Sleeps
    ) -> None:
        client = make_client(http, github, sleeps=sleeps)
        session = await client.create_session(
            (await client.create_scale_set("rod", 1, ("rod",))).id, "h"
        )
        queue_job(github, ["rod"])
        fault = {"mode": "throttled", "operation": "get_message", "retry_after": 7, "count": 2}
        control(github, "POST", "scalesets/faults", fault)
        assert await client.get_message(session, 0, 5) is not None
        assert sleeps.waits == [7.0, 7.0]

    async def test_5xx_is_tried_five_times_with_growing_waits(
        self, http: httpx.AsyncClient, github: GitHubEmulator, sleeps: Sleeps
    ) -> None:
        client = make_client(http, github, sleeps=sleeps)
        session = await client.create_session(
            (await client.create_scale_set("rod", 1, ("rod",))).id, "h"
        )
        fault = {"mode": "server_error", "operation": "get_message", "status": 502, "count": 5}
        control(github, "POST", "scalesets/faults", fault)
        with pytest.raises(ServiceError, match="502") as raised:
            await client.get_message(session, 0, 5)
        assert raised.value.retryable
        assert sleeps.waits == [1.0, 2.0, 4.0, 8.0]

    async def test_without_retries_a_5xx_is_raised_at_once(
        self, http: httpx.AsyncClient, github: GitHubEmulator, sleeps: Sleeps
    ) -> None:
        # rod listen's check before serving: the listener, serving, does the retrying.
        fault = {"mode": "server_error", "operation": "runner_registration", "count": 1}
        control(github, "POST", "scalesets/faults", fault)
        client = make_client(http, github, sleeps=sleeps, retries=0)
        with pytest.raises(ServiceError, match="500") as raised:
            await client.runner_group("Default")
        assert raised.value.retryable and sleeps.waits == []
        assert calls(github, "POST", REGISTRATION) == 1

    async def test_an_expired_queue_token_is_unauthorized(
        self, http: httpx.AsyncClient, github: GitHubEmulator
    ) -> None:
        client = make_client(http, github)
        session = await client.create_session(
            (await client.create_scale_set("rod", 1, ("rod",))).id, "h"
        )
        control(
            github, "POST", "scalesets/faults", {"mode": "unauthorized", "operation": "get_message"}
        )
        with pytest.raises(Unauthorized):
            await client.get_message(session, 0, 5)


class TestRunners:
    async def test_jit_config_lookup_and_removal(
        self, http: httpx.AsyncClient, github: GitHubEmulator
    ) -> None:
        client = make_client(http, github)
        scale_set = await client.create_scale_set("rod", 1, ("rod",))
        runner_id, encoded = await client.generate_jit_config(scale_set.id, "rod-ss1-aaaa")
        assert runner_secret(encoded)
        with pytest.raises(AgentExists):
            await client.generate_jit_config(scale_set.id, "rod-ss1-aaaa")
        assert await client.find_runner("rod-ss1-aaaa") == (runner_id, scale_set.id)
        (listed,) = await client.list_runners()
        assert (listed.id, listed.name, listed.status, listed.busy) == (
            runner_id,
            "rod-ss1-aaaa",
            "offline",
            False,
        )
        assert await client.remove_runner(runner_id)
        assert await client.remove_runner(runner_id)  # gone: still fine
        assert await client.find_runner("rod-ss1-aaaa") is None

    async def test_a_busy_runner_is_not_removed(
        self, http: httpx.AsyncClient, github: GitHubEmulator
    ) -> None:
        client = make_client(http, github)
        scale_set = await client.create_scale_set("rod", 1, ("rod",))
        session = await client.create_session(scale_set.id, "h")
        queue_job(github, ["rod"])
        message = await client.get_message(session, 0, 5)
        assert message is not None
        await client.acquire_jobs(session, [message.entries[0].request_id])
        runner_id, encoded = await client.generate_jit_config(scale_set.id, "rod-ss1-bbbb")
        bearer = {"Authorization": f"Bearer {runner_secret(encoded)}"}
        runner = await http.post(f"{github.url}/_actions/sessions", headers=bearer)
        taken = await http.get(
            f"{github.url}/_actions/sessions/{runner.json()['session_id']}/job", headers=bearer
        )
        assert taken.status_code == 200, taken.text
        assert not await client.remove_runner(runner_id)
        assert (await client.list_runners())[0].busy
