"""`rod hooks sync` and `rod hooks status`: the `workflow_job` webhooks that feed `rod serve`.

    rod hooks sync OWNER --url https://rod.example.org/webhook [--repo NAME ...] [--org-hook]
                   [--prune] [--dry-run] [--reset-secret]
    rod hooks status OWNER --url ... [--repo NAME ...] [--org-hook] [--limit 100]
                   [--redeliver-failed]

GITHUB_TOKEN is a token with admin rights on the repositories (classic: the `admin:repo_hook`
scope; `admin:org_hook` and org ownership for `--org-hook`); GITHUB_API_URL points elsewhere
(GHES, the emulator); `sync` signs the hooks with GITHUB_WEBHOOK_SECRET, `rod serve`'s, never
printed. Exit status: 0 done, 1 GitHub failed part of it, 2 bad input (nothing changed).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

import click

from runners_on_demand.api_client import ApiClient
from runners_on_demand.backoff import Backoff, Retrier
from runners_on_demand.config import Settings
from runners_on_demand.errors import ConfigError, UpstreamError
from runners_on_demand.hooks import cache
from runners_on_demand.hooks.api import HooksApi
from runners_on_demand.hooks.plan import HookSpec, Step, StepKind
from runners_on_demand.hooks.status import summarize
from runners_on_demand.hooks.sync import Selection, apply, read
from runners_on_demand.ports.github import EtagCache, GitHubHttp
from runners_on_demand.ports.github_auth import PatAuth
from runners_on_demand.wiring import UPSTREAM_TIMEOUT, read_settings

# A rate limit is waited out (up to its hourly reset); other failures are tried a few times.
BACKOFF = Backoff(max_attempts=6, base=1.0, cap=30.0, deadline=3900.0)
Work = Callable[[HooksApi], Awaitable[int]]


def _fail(name: str, problems: Sequence[str], code: int = 2) -> NoReturn:
    for problem in problems:
        click.echo(f"rod hooks {name}: {problem}", err=True)
    sys.exit(code)


def _settings(name: str, *, secret: bool) -> Settings:
    """GITHUB_TOKEN, GITHUB_API_URL (and the webhook secret) as `rod serve` reads them."""
    try:
        settings = read_settings(None, os.environ, webhook=secret)
    except ConfigError as error:
        _fail(name, error.problems)
    if not settings.github_token:
        _fail(name, ["set GITHUB_TOKEN to a token with admin rights on the hooks (not an App)"])
    return settings


@dataclass(frozen=True)
class _Run:
    """What both commands start from: settings, the hook wanted, the selection, the cache."""

    name: str
    settings: Settings
    spec: HookSpec
    selection: Selection
    cache_path: Path | None

    @classmethod
    def of(
        cls,
        name: str,
        *,
        secret: bool,
        owner: str,
        url: str,
        repos: tuple[str, ...],
        org_hook: bool,
        cache_file: str | None,
        no_cache: bool,
    ) -> _Run:
        """The options and the environment, checked: one line and exit 2 for each problem."""
        settings = _settings(name, secret=secret)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            _fail(
                name, [f"--url {url!r} is not an http(s) URL like https://rod.example.org/webhook"]
            )
        if org_hook and repos:
            _fail(name, ["--org-hook serves every repository of the organization; drop --repo"])
        cache_path = None
        if not no_cache:
            cache_path = Path(cache_file) if cache_file else cache.default_path(os.environ)
            problem = cache.unwritable(cache_path)
            if problem:
                _fail(name, [f"cannot keep the ETag cache in {cache_path}: {problem} (--cache)"])
        return cls(name, settings, HookSpec(url), Selection(owner, repos, org_hook), cache_path)

    def exit(self, work: Work) -> NoReturn:
        """Run `work`; exit 0, 1 when GitHub failed, 2 for bad input (one line each)."""
        try:
            code = asyncio.run(self._run(work))
        except ConfigError as error:
            _fail(self.name, error.problems)
        except UpstreamError as error:
            _fail(self.name, [str(error)], code=1)
        sys.exit(code)

    async def _run(self, work: Work) -> int:
        """`work` over one GitHub adapter; then the API calls it made, and the cache saved."""
        etags = cache.load(self.cache_path) if self.cache_path else None
        token = self.settings.github_token
        assert token is not None
        client = ApiClient(base_url=self.settings.github_api_url, timeout=UPSTREAM_TIMEOUT)
        async with client:
            github = GitHubHttp(
                client, PatAuth(token), etags=etags, etag_cache_size=cache.CACHE_ENTRIES
            )
            try:
                return await work(HooksApi(github, Retrier(BACKOFF)))
            finally:
                left = github.rate_limit_remaining
                click.echo(
                    f"API calls: {github.api_calls} ({github.not_modified} answered 304 Not "
                    f"Modified, free); rate limit remaining: {'?' if left is None else left}"
                )
                if self.cache_path and etags is not None:
                    self._save(self.cache_path, etags)

    def _save(self, path: Path, etags: EtagCache) -> None:
        """Keep the ETags; a failure is one line on stderr, as the work is done by now."""
        try:
            cache.save(path, etags)
        except OSError as error:
            reason = error.strerror or str(error)
            click.echo(
                f"rod hooks {self.name}: cannot save the ETag cache {path}: {reason}", err=True
            )


def _common(function: Callable[..., Any]) -> Callable[..., Any]:
    """The argument and options `sync` and `status` share."""
    options = [
        click.argument("owner"),
        click.option(
            "--url",
            envvar="ROD_WEBHOOK_URL",
            required=True,
            help="The dispatcher's webhook URL (env ROD_WEBHOOK_URL).",
        ),
        click.option(
            "--repo",
            "repos",
            multiple=True,
            help="Only this repository of OWNER (repeatable); default: all.",
        ),
        click.option("--org-hook", is_flag=True, help="One organization hook instead."),
        click.option(
            "--cache",
            "cache_file",
            type=click.Path(dir_okay=False),
            default=None,
            help="ETag cache between runs (default under $XDG_CACHE_HOME).",
        ),
        click.option("--no-cache", is_flag=True, help="Keep no ETags between runs."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


@click.group("hooks")
def group() -> None:
    """Install and watch the workflow_job webhooks that feed `rod serve`."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)


@group.command("sync")
@_common
@click.option("--prune", is_flag=True, help="Delete our hooks from repositories not selected.")
@click.option("--dry-run", is_flag=True, help="Print the plan; change nothing.")
@click.option(
    "--reset-secret",
    is_flag=True,
    help="Set GITHUB_WEBHOOK_SECRET on our hooks again (after rotating it).",
)
@click.option("-v", "--verbose", is_flag=True, help="List unchanged hooks too.")
def sync_command(
    prune: bool, dry_run: bool, reset_secret: bool, verbose: bool, **common: Any
) -> None:
    """Create or update OWNER's workflow_job webhooks so that they point at the dispatcher."""
    run = _Run.of("sync", secret=True, **common)

    async def work(api: HooksApi) -> int:
        listed = await read(api, run.selection, prune=prune)
        steps = listed.plan(run.spec, prune=prune, reset_secret=reset_secret)
        for step in steps:
            if verbose or step.kind is not StepKind.UNCHANGED:
                click.echo(str(step))
        for skipped in listed.skipped:
            click.echo(f"skipped   {skipped}: archived, or no admin rights (not pruned)")
        click.echo("plan: " + _counts(steps))
        if dry_run:
            click.echo("dry run: nothing changed")
            return 0
        done = await apply(api, steps, run.spec, run.settings.webhook_secret)
        for failure in (d for d in done if d.error):
            click.echo(f"FAILED    {failure.step.target}: {failure.error}", err=True)
        changed = sum(1 for d in done if not d.error)
        click.echo(f"done: {changed} changes, {len(done) - changed} failed")
        return 1 if changed < len(done) else 0

    run.exit(work)


def _counts(steps: Sequence[Step]) -> str:
    return ", ".join(f"{sum(s.kind is kind for s in steps)} {kind}" for kind in StepKind)


@group.command("status")
@_common
@click.option(
    "--limit",
    type=click.IntRange(1, 1000),
    default=100,
    show_default=True,
    help="Newest deliveries read per hook.",
)
@click.option(
    "--redeliver-failed",
    is_flag=True,
    help="Redeliver the workflow_job deliveries the dispatcher never acknowledged.",
)
def status_command(limit: int, redeliver_failed: bool, **common: Any) -> None:
    """Per hook to the dispatcher: its last deliveries and failures."""
    run = _Run.of("status", secret=False, **common)
    url = run.spec.url.rstrip("/")

    async def work(api: HooksApi) -> int:
        listed = await read(api, run.selection, prune=False)
        hooks = [
            (target, hook.id)
            for target, found in sorted(listed.selected.items())
            for hook in found
            if hook.url.rstrip("/") == url
        ]
        if not hooks:
            click.echo(f"no hook of {run.selection.owner} points at {run.spec.url}")
        redelivered = failed = 0
        for target, hook_id in hooks:
            deliveries = await api.deliveries(target, hook_id, limit)
            status = summarize(target, hook_id, deliveries, now=time.time())
            for line in status.lines():
                click.echo(line)
            for delivery in status.unacknowledged if redeliver_failed else ():
                try:
                    await api.redeliver(target, hook_id, int(delivery["id"]))
                    redelivered += 1
                except UpstreamError as error:
                    failed += 1
                    click.echo(f"  FAILED to redeliver {delivery.get('guid')}: {error}", err=True)
        if redeliver_failed:
            click.echo(f"redelivered: {redelivered}, failed: {failed}")
        return 1 if failed else 0

    run.exit(work)
