"""The listener's loop (`Listener`) against the GitHub emulator over real HTTP."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest

from runners_on_demand.decision import Policy
from runners_on_demand.listen.credentials import ScaleSetCredentials
from runners_on_demand.listen.loop import Listener
from runners_on_demand.listen.metrics import ListenMetrics
from runners_on_demand.listen.scaling import Scaler
from runners_on_demand.listen.settings import ListenSettings
from runners_on_demand.metrics import Metrics
from simulator.github import GitHubEmulator
from simulator.github.scaleset_host import ScaleSetSettings
from tests.runners_on_demand.fakes import FakeGitHub, FakeNomad, pipeline
from tests.runners_on_demand.listen.conftest import (
    REPO,
    TOKEN,
    calls,
    control,
    make_client,
    queue_job,
)


@dataclass
class StopAtFirstPause:
    """The listener's sleep: records the pause asked for and stops the listener."""

    waits: list[float] = field(default_factory=list)
    listener: Listener | None = None

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        assert self.listener is not None
        self.listener.stop()


class WithoutStatistics(httpx.AsyncBaseTransport):
    """The real transport, dropping `statistics` from the first 200 of `method` on a path ending
    so; any request after the next one stops `listener`, so a listener that reads on
    regardless ends instead of polling for ever."""

    def __init__(self, method: str, suffix: str) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self._method, self._suffix = method, suffix
        self.stripped = 0  # requests since the stripped answer (0: none stripped yet)
        self.listener: Listener | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.stripped:
            self.stripped += 1
            if self.stripped > 2 and self.listener is not None:
                self.listener.stop()
        response = await self._inner.handle_async_request(request)
        chosen = request.method == self._method and request.url.path.endswith(self._suffix)
        if self.stripped or not chosen or response.status_code != 200:
            return response
        data = json.loads(await response.aread())
        data.pop("statistics")
        self.stripped = 1
        return httpx.Response(200, json=data)

    async def aclose(self) -> None:
        await self._inner.aclose()


def make_listener(
    http: httpx.AsyncClient, github: GitHubEmulator, pause: StopAtFirstPause, **settings: str
) -> Listener:
    """A listener on the repository's scale set `rod` (Nomad and the pipeline in memory)."""
    client = make_client(http, github)
    nomad, metrics = FakeNomad(), ListenMetrics(Metrics())
    listen = ListenSettings(url=f"{github.url}/{REPO}", **settings)
    runners = pipeline(FakeGitHub(), nomad)
    scaler = Scaler(
        client, nomad, runners, settings=listen, pool=Policy().pools[0], metrics=metrics
    )
    credentials = ScaleSetCredentials(client, nomad)
    made = pause.listener = Listener(
        client,
        scaler,
        credentials,
        settings=listen,
        metrics=metrics,
        owner="test-host",
        sleep=pause,
    )
    return made


async def run_until_paused(
    http: httpx.AsyncClient, github: GitHubEmulator, stripping: WithoutStatistics | None = None
) -> tuple[Listener, float]:
    """A listener (`make_listener`) run until its first pause; and that pause."""
    pause = StopAtFirstPause()
    made = make_listener(http, github, pause)
    if stripping is not None:
        stripping.listener = made
    await made.run()
    (wait,) = pause.waits
    return made, wait


@pytest.fixture
async def stripped(
    request: pytest.FixtureRequest,
) -> AsyncIterator[tuple[httpx.AsyncClient, WithoutStatistics]]:
    """A client whose first answer to (method, path suffix) loses its `statistics`."""
    transport = WithoutStatistics(*request.param)
    async with httpx.AsyncClient(transport=transport) as client:
        yield client, transport


class TestRun:
    async def test_a_spent_rate_limit_is_waited_out_before_setting_up_again(
        self, http: httpx.AsyncClient
    ) -> None:
        # The auth chain's registration token (REST) meets GitHub's spent primary limit.
        with GitHubEmulator(repos=[REPO], tokens=[TOKEN], rate_limit=0) as github:
            made, paused = await run_until_paused(http, github)
        assert "403 API rate limit exceeded" in made.problem
        assert paused > 3500  # the limit's reset, not the 30 s backoff cap

    async def test_a_refusal_ends_the_run_instead_of_a_retry(
        self, http: httpx.AsyncClient, github: GitHubEmulator
    ) -> None:
        pause = StopAtFirstPause()
        made = make_listener(http, github, pause, runner_group="gpu")
        await made.run()  # returns by itself: nothing stopped it
        assert pause.waits == [] and made.session is None
        assert made.refused == f"listen.runner_group: {REPO} has no runner group named 'gpu'"
        assert made.health()["session"] == f"no session: {made.refused}"
        assert control(github, "GET", "scalesets") == []

    @pytest.mark.parametrize("stripped", [("POST", "/sessions")], indirect=True)
    async def test_a_session_without_statistics_is_given_up(
        self, stripped: tuple[httpx.AsyncClient, WithoutStatistics], github: GitHubEmulator
    ) -> None:
        # [S] listener.go Run: "session statistics is nil" ends the run, deleting the session.
        made, _ = await run_until_paused(stripped[0], github, stripped[1])
        assert "the service sent no statistics" in made.problem
        (scale_set,) = control(github, "GET", "scalesets")
        assert scale_set["sessions"] == []  # deleted: the next one meets no 409

    @pytest.mark.parametrize("stripped", [("GET", "/message")], indirect=True)
    async def test_a_message_without_statistics_is_never_acknowledged(
        self, stripped: tuple[httpx.AsyncClient, WithoutStatistics], github: GitHubEmulator
    ) -> None:
        client = make_client(stripped[0], github)
        await client.create_scale_set("rod", 1, ("rod",))
        queue_job(github, ["rod"])  # its JobAvailable comes in the session's first message
        made, _ = await run_until_paused(stripped[0], github, stripped[1])
        # [S] listener.go parseMessage: "invalid message: statistics is nil", before the ack.
        assert "statistics is missing" in made.problem
        (scale_set,) = control(github, "GET", "scalesets")
        assert scale_set["unacked_message_ids"] != []
        assert calls(github, "DELETE", "/_services/broker/scalesets/message/*") == 0
        assert calls(github, "POST", "*/acquirejobs") == 0
        # The count stays the session's (one job available), not zeros.
        assert made.fleet is not None and made.fleet.statistics.available == 1


class TestSweep:
    async def test_a_rate_limited_sweep_waits_for_github_not_for_its_interval(
        self, http: httpx.AsyncClient
    ) -> None:
        # One REST call allowed (the admin token's registration token); the sweep's runner
        # listing then meets the spent limit, whose reset is an hour away. The listener's
        # clock runs 10 s per reading, so each poll would be past a 1 s sweep interval.
        ticks = iter(range(0, 10**9, 10))
        held = ScaleSetSettings(poll_hold=0.3)
        with GitHubEmulator(repos=[REPO], tokens=[TOKEN], rate_limit=1, scaleset=held) as github:
            client = make_client(http, github)
            nomad, metrics = FakeNomad(), ListenMetrics(Metrics())
            settings = ListenSettings(url=f"{github.url}/{REPO}", sweep_interval_seconds=1)
            scaler = Scaler(
                client,
                nomad,
                pipeline(FakeGitHub(), nomad),
                settings=settings,
                pool=Policy().pools[0],
                metrics=metrics,
            )
            listener = Listener(
                client,
                scaler,
                ScaleSetCredentials(client, nomad),
                settings=settings,
                metrics=metrics,
                owner="test-host",
                clock=lambda: float(next(ticks)),
            )
            running = asyncio.ensure_future(listener.run())
            while calls(github, "GET", "*/message") < 3:
                await asyncio.sleep(0.05)
            listener.stop()
            await running
            # [S] rate limits: "continuing to make requests while rate limited may result in
            # the banning of your integration".
            assert calls(github, "GET", "*/actions/runners") == 1
