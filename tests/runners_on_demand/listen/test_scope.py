"""The config URL as [S] config.go reads it."""

from __future__ import annotations

import pytest

from runners_on_demand.listen.scope import parse_config_url


class TestParseConfigUrl:
    @pytest.mark.parametrize(
        ("url", "api", "owner", "repo"),
        [
            ("https://github.com/acme", "https://api.github.com", "acme", None),
            ("https://github.com/acme/app/", "https://api.github.com", "acme", "app"),
            ("https://www.github.com/acme", "https://api.github.com", "acme", None),
            ("https://acme.ghe.com/acme", "https://api.acme.ghe.com", "acme", None),
            ("https://ghes.example/acme/app", "https://ghes.example/api/v3", "acme", "app"),
            ("http://127.0.0.1:8081/acme/app", "http://127.0.0.1:8081/api/v3", "acme", "app"),
        ],
    )
    def test_org_and_repository_urls(
        self, url: str, api: str, owner: str, repo: str | None
    ) -> None:
        scope = parse_config_url(url)
        assert (scope.api_url, scope.owner, scope.repo) == (api, owner, repo)
        assert scope.url == url.rstrip("/")

    def test_names_and_paths(self) -> None:
        repo = parse_config_url("https://ghes.example/acme/app")
        org = parse_config_url("https://ghes.example/acme")
        assert (repo.name, repo.rest_path) == ("acme/app", "/repos/acme/app")
        assert (org.name, org.rest_path) == ("acme", "/orgs/acme")
        assert org.html_url("acme", "lib") == "https://ghes.example/acme/lib"

    @pytest.mark.parametrize(
        ("url", "reason"),
        [
            ("https://github.com/enterprises/big", "enterprise scale sets are not supported"),
            ("https://github.com/", "must name an organization or a repository"),
            ("https://github.com/a/b/c", "must name an organization or a repository"),
            ("ftp://github.com/acme", "is not an http(s) URL"),
            ("https://github.com/-acme", "does not name a GitHub organization"),
            ("https://github.com/acme/..", "does not name a GitHub organization"),
            ("https://github.com/acme?x=1", "is not an http(s) URL"),
            ("https://me:hunter2@github.com/acme", "must not carry a user or password"),
        ],
    )
    def test_refused_in_one_line(self, url: str, reason: str) -> None:
        with pytest.raises(ValueError, match=reason.replace("(", r"\(").replace(")", r"\)")) as e:
            parse_config_url(url)
        assert "hunter2" not in str(e.value)
