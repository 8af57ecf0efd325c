"""The `[listen]` table: read by tables.py, checked for `rod listen`."""

from __future__ import annotations

import pytest

from runners_on_demand.config import load_settings
from runners_on_demand.decision import Policy, Pool
from runners_on_demand.errors import ConfigError
from runners_on_demand.listen.settings import ListenSettings, listen_pool, listen_problems

ENV = {"GITHUB_TOKEN": "ghp_x"}


class TestTable:
    def test_read_from_the_config_file_without_a_webhook_secret(self) -> None:
        toml = (
            '[listen]\nurl = "https://github.com/acme"\nscale_set = "gpu"\n'
            'labels = ["self-hosted", "gpu"]\nmin_runners = 1\nmax_runners = 4\n'
        )
        settings = load_settings(ENV, toml, webhook=False)
        listen = settings.listen
        assert (listen.url, listen.scale_set, listen.min_runners, listen.max_runners) == (
            "https://github.com/acme",
            "gpu",
            1,
            4,
        )
        assert listen.scale_set_labels == ("self-hosted", "gpu")
        assert settings.webhook_secret == ""

    def test_bad_values_are_problems_of_the_config_file(self) -> None:
        toml = '[listen]\nmax_runners = 0\nlabels = ["a,b"]\ncolour = "red"\n'
        with pytest.raises(ConfigError) as raised:
            load_settings(ENV, toml, webhook=False)
        assert raised.value.problems == [
            "unknown key listen.colour in the config file",
            "listen.labels must be a list of labels without commas",
            "listen.max_runners must be an integer from 1 to 10000",
        ]

    def test_rod_serve_still_needs_the_webhook_secret(self) -> None:
        with pytest.raises(ConfigError, match="GITHUB_WEBHOOK_SECRET is not set"):
            load_settings(ENV)


class TestProblems:
    def test_a_fine_table_has_none(self) -> None:
        settings = ListenSettings(url="https://github.com/acme/app")
        assert listen_problems(settings, Policy()) == []
        assert ListenSettings().scale_set_labels == ("rod",)

    def test_each_problem_is_one_line(self) -> None:
        settings = ListenSettings(
            url="https://github.com/enterprises/e",
            scale_set=" ",
            runner_group="",
            min_runners=5,
            max_runners=2,
            pool="gpu",
        )
        problems = listen_problems(settings, Policy())
        assert problems == [
            "listen.url: enterprise scale sets are not supported: use an org or repository URL",
            "listen.scale_set must be a name of 1 to 100 characters",
            "listen.runner_group must not be empty",
            "listen.min_runners must not exceed listen.max_runners",
            "listen.pool 'gpu' is not a configured pool (default)",
        ]

    def test_the_url_is_required(self) -> None:
        assert listen_problems(ListenSettings(), Policy())[0].startswith("listen.url is not set")

    def test_a_pool_with_a_runner_group_is_refused(self) -> None:
        org = Pool("org", "github-runner", runner_group="linux")
        settings = ListenSettings(url="https://github.com/acme", pool="org")
        assert listen_problems(settings, Policy(pools=(org,))) == [
            "listen.pool 'org' has a runner_group; the scale set names its group in "
            "listen.runner_group: choose a pool without one"
        ]

    def test_pool_by_name_or_the_first(self) -> None:
        gpu = Pool("gpu", "runner-gpu", frozenset({"gpu"}))
        policy = Policy(pools=(Pool("cpu", "runner-cpu"), gpu))
        assert listen_pool(ListenSettings(pool="gpu"), policy) is gpu
        assert listen_pool(ListenSettings(), policy) == policy.pools[0]
