"""`rod hooks sync` and `rod hooks status` against the GitHub emulator (served on a loopback port).

The Must-show of issue 15: 50 repositories get 50 hooks, a second run changes nothing, each run
says how many API calls it made; `--prune` removes only our own hooks; bad input is one line,
exit status 2, and nothing changed. The secret is never printed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from runners_on_demand.cli import main
from simulator.github import GitHubEmulator
from simulator.github.actions import JobSpec
from simulator.github.webhooks import Hook
from simulator.serving import free_port

TOKEN = "ghp_hooks_cli_test"
MEMBER = "ghp_hooks_cli_member"
SECRET = "hooks-cli-secret-value"
ORG = "acme"
REPOS = [f"{ORG}/repo-{n:02d}" for n in range(50)]
# Deliveries to it fail at once (nothing listens): what a dispatcher that is down looks like.
URL = f"http://127.0.0.1:{free_port()}/webhook"


@pytest.fixture
def github() -> Iterator[GitHubEmulator]:
    emulator = GitHubEmulator(orgs=[ORG], tokens=[TOKEN]).start()
    emulator.backend.add_token(MEMBER, admin=False)
    for full_name in REPOS:
        emulator.backend.create_repo(full_name, private=True)
    yield emulator
    emulator.backend.deliverer.wait_idle()
    emulator.stop()


def rod(
    github: GitHubEmulator, *args: str, token: str = TOKEN, cache: Path | None = None
) -> Result:
    options = ["--cache", str(cache)] if cache else ["--no-cache"]
    env = {"GITHUB_TOKEN": token, "GITHUB_API_URL": github.url, "GITHUB_WEBHOOK_SECRET": SECRET}
    result = CliRunner().invoke(main, ["hooks", *args, *options], env=env)
    assert SECRET not in result.output + result.stderr
    assert "Traceback" not in result.output + result.stderr
    return result


def hooks(github: GitHubEmulator, scope: str | None = None) -> list[Hook]:
    found = github.backend.hooks.values()
    return sorted((h for h in found if scope is None or h.scope == scope), key=lambda h: h.id)


def api_calls(result: Result) -> tuple[int, int]:
    """(calls, of which 304) from the line every run ends with."""
    found = re.search(r"API calls: (\d+) \((\d+) answered 304", result.output)
    assert found, result.output
    return int(found[1]), int(found[2])


def writes(github: GitHubEmulator) -> list[str]:
    """Every request that could have changed a hook."""
    return [
        f"{entry.method} {entry.path}"
        for entry in github.control.requests
        if entry.method in ("POST", "PATCH", "DELETE") and "/hooks" in entry.path
    ]


class TestSync:
    def test_50_repositories_then_nothing_to_do(
        self, github: GitHubEmulator, tmp_path: Path
    ) -> None:
        cache = tmp_path / "etags.json"
        first = rod(github, "sync", ORG, "--url", URL, cache=cache)
        assert first.exit_code == 0, first.output
        assert "plan: 50 create, 0 update, 0 unchanged, 0 not ours, 0 prune" in first.output
        made = hooks(github)
        assert len(made) == 50 and {h.scope for h in made} == set(REPOS)
        for hook in made:
            assert (hook.events, hook.active, hook.config["content_type"]) == (
                ["workflow_job"],
                True,
                "json",
            )
            assert hook.config["secret"] == SECRET and hook.config["insecure_ssl"] == "0"
        # One org, one page of repositories, then per repository its hooks and the new one.
        assert api_calls(first) == (1 + 1 + 50 + 50, 0)
        second = rod(github, "sync", ORG, "--url", URL, cache=cache)
        assert "plan: 0 create, 0 update, 50 unchanged, 0 not ours, 0 prune" in second.output
        assert "done: 0 changes, 0 failed" in second.output
        assert api_calls(second) == (52, 1)  # the repositories listing had not changed
        third = rod(github, "sync", ORG, "--url", URL, cache=cache)
        assert api_calls(third) == (52, 51)  # every listing answered 304, free
        assert [h.id for h in hooks(github)] == [h.id for h in made]

    def test_dry_run_changes_nothing(self, github: GitHubEmulator) -> None:
        result = rod(github, "sync", ORG, "--url", URL, "--repo", "repo-01", "--dry-run")
        assert result.exit_code == 0
        assert result.output.splitlines()[:2] == [
            "create    acme/repo-01",
            "plan: 1 create, 0 update, 0 unchanged, 0 not ours, 0 prune",
        ]
        assert "dry run: nothing changed" in result.output
        assert hooks(github) == [] and writes(github) == []

    def test_a_stale_hook_of_ours_is_updated_with_the_secret(self, github: GitHubEmulator) -> None:
        github.backend.create_hook(
            ORG, "repo-01", config={"url": URL, "content_type": "form"}, events=["workflow_job"]
        )
        result = rod(github, "sync", ORG, "--url", URL, "--repo", "repo-01")
        assert (
            "update    acme/repo-01" in result.output
            and "content type form, no secret" in result.output
        )
        (hook,) = hooks(github)
        assert hook.config["content_type"] == "json" and hook.config["secret"] == SECRET

    def test_prune_touches_only_its_own_hooks(self, github: GitHubEmulator) -> None:
        assert (
            rod(
                github, "sync", ORG, "--url", URL, "--repo", "repo-01", "--repo", "repo-02"
            ).exit_code
            == 0
        )
        backend = github.backend
        backend.create_hook(
            ORG, "repo-02", config={"url": "http://127.0.0.1:9/ci"}, events=["push"]
        )
        backend.create_hook(ORG, "repo-03", config={"url": URL}, events=["push", "workflow_job"])
        backend.create_hook(
            ORG, "repo-04", config={"url": "http://127.0.0.1:9/other"}, events=["workflow_job"]
        )
        result = rod(github, "sync", ORG, "--url", URL, "--repo", "repo-01", "--prune")
        assert result.exit_code == 0, result.output
        assert "prune     acme/repo-02" in result.output
        assert "plan: 0 create, 0 update, 1 unchanged, 0 not ours, 1 prune" in result.output
        left = {(h.scope, h.config["url"], tuple(h.events)) for h in hooks(github)}
        assert left == {
            ("acme/repo-01", URL, ("workflow_job",)),
            ("acme/repo-02", "http://127.0.0.1:9/ci", ("push",)),
            ("acme/repo-03", URL, ("push", "workflow_job")),  # made by hand: not ours
            ("acme/repo-04", "http://127.0.0.1:9/other", ("workflow_job",)),
        }

    def test_one_org_hook_and_the_repository_hooks_pruned(self, github: GitHubEmulator) -> None:
        rod(github, "sync", ORG, "--url", URL, "--repo", "repo-01")
        result = rod(github, "sync", ORG, "--url", URL, "--org-hook", "--prune")
        assert result.exit_code == 0, result.output
        assert "create    acme\n" in result.output and "prune     acme/repo-01" in result.output
        (hook,) = hooks(github)
        assert (hook.target_type, hook.scope, hook.events) == (
            "organization",
            ORG,
            ["workflow_job"],
        )
        again = rod(github, "sync", ORG, "--url", URL, "--org-hook")
        assert "plan: 0 create, 0 update, 1 unchanged" in again.output

    def test_a_users_repositories(self, github: GitHubEmulator) -> None:
        github.backend.create_repo("rod-sim/tool")  # the token's own user
        result = rod(github, "sync", "rod-sim", "--url", URL)
        assert result.exit_code == 0, result.output
        assert "create    rod-sim/tool" in result.output
        assert [h.scope for h in hooks(github)] == ["rod-sim/tool"]


class TestBadInput:
    @pytest.mark.parametrize(
        ("args", "token", "line"),
        [
            (
                ["nobody"],
                TOKEN,
                "rod hooks sync: unknown owner nobody: no organization of that "
                "name, and the token sees no repository of a user nobody",
            ),
            (
                [ORG],
                MEMBER,
                "rod hooks sync: the token has no admin rights on acme/repo-00 (and "
                "49 more); hooks need admin rights",
            ),
            (
                [ORG, "--org-hook"],
                MEMBER,
                "rod hooks sync: cannot manage the hooks of organization"
                " acme: GitHub answers 404 (the token needs the admin:org_hook scope and to be an "
                "owner of the org)",
            ),
            (
                [ORG, "--repo", "nope"],
                TOKEN,
                "rod hooks sync: unknown repository acme/nope (or the token cannot see it)",
            ),
            (
                ["rod-sim", "--org-hook"],
                TOKEN,
                "rod hooks sync: rod-sim is not an organization "
                "the token can see; --org-hook needs one",
            ),
        ],
        ids=[
            "unknown owner",
            "no admin rights",
            "no org admin",
            "unknown repository",
            "user org hook",
        ],
    )
    def test_one_line_exit_2_nothing_changed(
        self, github: GitHubEmulator, args: list[str], token: str, line: str
    ) -> None:
        result = rod(github, "sync", *args, "--url", URL, token=token)
        assert result.exit_code == 2
        assert result.stderr.splitlines() == [line]
        assert hooks(github) == [] and writes(github) == []

    @pytest.mark.parametrize(
        ("args", "line"),
        [
            (
                ["--url", "ftp://x/webhook"],
                "rod hooks sync: --url 'ftp://x/webhook' is not an "
                "http(s) URL like https://rod.example.org/webhook",
            ),
            (
                ["--url", URL, "--org-hook", "--repo", "app"],
                "rod hooks sync: --org-hook serves "
                "every repository of the organization; drop --repo",
            ),
        ],
        ids=["bad url", "org hook and repositories"],
    )
    def test_bad_options(self, github: GitHubEmulator, args: list[str], line: str) -> None:
        result = rod(github, "sync", ORG, *args)
        assert (result.exit_code, result.stderr.splitlines()) == (2, [line])
        assert github.control.requests == []  # not even a read

    def test_a_cache_that_cannot_be_written_stops_before_any_call(
        self, github: GitHubEmulator, tmp_path: Path
    ) -> None:
        (tmp_path / "a-file").write_text("")
        cache = tmp_path / "a-file" / "etags.json"
        result = rod(github, "sync", ORG, "--url", URL, cache=cache)
        assert (result.exit_code, result.stderr.splitlines()) == (
            2,
            [
                f"rod hooks sync: cannot keep the ETag cache in {cache}: "
                f"{tmp_path / 'a-file'} is not a directory (--cache)"
            ],
        )
        assert github.control.requests == [] and hooks(github) == []

    def test_no_token(self, github: GitHubEmulator) -> None:
        result = CliRunner().invoke(
            main,
            ["hooks", "sync", ORG, "--url", URL],
            env={"GITHUB_TOKEN": "", "GITHUB_WEBHOOK_SECRET": SECRET},
        )
        assert result.exit_code == 2 and "GITHUB_TOKEN" in result.stderr


class TestStatus:
    def test_failures_and_the_redelivery_of_those_never_acknowledged(
        self, github: GitHubEmulator
    ) -> None:
        rod(github, "sync", ORG, "--url", URL, "--repo", "repo-01")
        backend = github.backend
        backend.create_run(
            ORG, "repo-01", name="CI", event="push", jobs=[JobSpec("build", ["self-hosted"])]
        )
        backend.deliverer.wait_idle()
        result = rod(github, "status", ORG, "--url", URL, "--redeliver-failed")
        assert result.exit_code == 0, result.output
        (hook,) = hooks(github)
        assert f"acme/repo-01 hook {hook.id}: 2 deliveries read, 0 OK, 2 failed" in result.output
        assert "redelivered: 1, failed: 0" in result.output  # the queued job; not the ping
        backend.deliverer.wait_idle()
        (again,) = [d for d in backend.deliverer.for_hook(hook.id) if d.redelivery]
        assert (again.event.name, again.event.action) == ("workflow_job", "queued")

    def test_no_hook_to_the_dispatcher(self, github: GitHubEmulator) -> None:
        result = rod(github, "status", ORG, "--url", URL, "--repo", "repo-01")
        assert result.exit_code == 0 and f"no hook of acme points at {URL}" in result.output
