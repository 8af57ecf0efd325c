"""The listener's loop (`Listener`) against the GitHub emulator over real HTTP."""

from __future__ import annotations

import httpx

from runners_on_demand.decision import Policy
from runners_on_demand.listen.credentials import ScaleSetCredentials
from runners_on_demand.listen.loop import Listener
from runners_on_demand.listen.metrics import ListenMetrics
from runners_on_demand.listen.scaling import Scaler
from runners_on_demand.listen.settings import ListenSettings
from runners_on_demand.metrics import Metrics
from simulator.github import GitHubEmulator
from tests.runners_on_demand.fakes import FakeGitHub, FakeNomad, pipeline
from tests.runners_on_demand.listen.conftest import REPO, TOKEN, make_client


class TestRun:
    async def test_a_spent_rate_limit_is_waited_out_before_setting_up_again(
        self, http: httpx.AsyncClient
    ) -> None:
        waits: list[float] = []

        async def sleep(seconds: float) -> None:
            waits.append(seconds)
            listener.stop()

        # The auth chain's registration token (REST) meets GitHub's spent primary limit.
        with GitHubEmulator(repos=[REPO], tokens=[TOKEN], rate_limit=0) as github:
            client = make_client(http, github)
            nomad, metrics = FakeNomad(), ListenMetrics(Metrics())
            settings = ListenSettings(url=f"{github.url}/{REPO}")
            scaler = Scaler(
                client,
                nomad,
                pipeline(FakeGitHub(), nomad),
                settings=settings,
                pool=Policy().pools[0],
                metrics=metrics,
            )
            credentials = ScaleSetCredentials(client, nomad)
            listener = Listener(
                client,
                scaler,
                credentials,
                settings=settings,
                metrics=metrics,
                owner="test-host",
                sleep=sleep,
            )
            await listener.run()
        assert "403 API rate limit exceeded" in listener.problem
        assert len(waits) == 1
        assert waits[0] > 3500  # the limit's reset, not the 30 s backoff cap
