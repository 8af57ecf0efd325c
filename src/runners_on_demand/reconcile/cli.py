"""`rod reconcile`: compare GitHub's queued jobs with our runners and set things right.

`--once` runs one tick and prints what it found and what it did; without it the loop runs every
`[reconcile] interval_seconds` until interrupted (the same loop `rod serve` runs beside webhooks).
`--dry-run` prints the plan and changes nothing. Both print the repositories served and why
(configured, heard of: in the state Variable `[reconcile] state_variable`, named by a Nomad
child), what the state Variable holds, and every action: runners to make, stored runners to
dispatch again, runners to retire, spent credential Variables to destroy.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from typing import NoReturn

import click

from runners_on_demand.carrier import Outcome
from runners_on_demand.config import Settings
from runners_on_demand.errors import ConfigError, UpstreamError
from runners_on_demand.metrics import Metrics
from runners_on_demand.names import is_valid_full_name
from runners_on_demand.nomad_acl import Need, needs
from runners_on_demand.reconcile.act import ActionResult
from runners_on_demand.reconcile.describe import Serving, describe
from runners_on_demand.reconcile.loop import Reconciler, Report
from runners_on_demand.reconcile.model import MakeRunner
from runners_on_demand.runner_job_check import runner_job_problems
from runners_on_demand.runner_jobs import runner_job_ids
from runners_on_demand.token_check import TokenCheck, check_token
from runners_on_demand.wiring import (
    LOG_FORMAT,
    build,
    clients,
    github_auth,
    nomad_port,
    read_settings,
    with_runner_groups,
)


def _full_names(ctx: click.Context, param: click.Parameter, repos: Sequence[str]) -> Sequence[str]:
    """The --repo values, each owner/repo as `[reconcile] repos` requires."""
    for repo in repos:
        if not is_valid_full_name(repo):
            raise click.BadParameter(f"{repo!r} is not an owner/repo name")
    return repos


@click.command("reconcile")
@click.option("--once", is_flag=True, help="Run one pass, print it, exit.")
@click.option("--dry-run", is_flag=True, help="Print the plan; change nothing (implies --once).")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="The TOML file `rod serve` uses ([reconcile], pools, allowlist...).",
)
@click.option(
    "--repo",
    "repos",
    multiple=True,
    callback=_full_names,
    help="Also serve owner/repo (repeatable).",
)
@click.option(
    "--log-level",
    type=click.Choice(("critical", "error", "warning", "info", "debug")),
    default="warning",
    show_default=True,
)
def command(
    once: bool, dry_run: bool, config_path: str | None, repos: Sequence[str], log_level: str
) -> None:
    """Dispatch for queued jobs without a runner; retire idle, orphaned and failed runners."""
    logging.basicConfig(level=log_level.upper(), stream=sys.stderr, format=LOG_FORMAT)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        settings = asyncio.run(with_runner_groups(_settings(config_path)))
    except ConfigError as error:
        _fail(error.problems)
    except UpstreamError as error:  # as `rod serve` says it
        _fail([f"cannot read the runner groups from GitHub: {error}"])
    try:
        token = asyncio.run(_check_token(settings, dry_run=dry_run))
    except ConfigError as error:  # NOMAD_CACERT or the client certificate unusable
        _fail(error.problems)
    if not token.usable:
        _fail([token.line])
    log = logging.getLogger(__name__)
    log.log(logging.INFO if token.ready else logging.WARNING, "rod reconcile: %s", token.line)
    try:
        code = asyncio.run(_main(settings, repos, once=once or dry_run, dry_run=dry_run))
    except ConfigError as error:  # NOMAD_CACERT or the client certificate unusable
        _fail(error.problems)
    except KeyboardInterrupt:
        code = 130
    except asyncio.CancelledError:  # SIGTERM, in loop mode (_main)
        code = 128 + signal.SIGTERM
    sys.exit(code)


def _fail(problems: list[str]) -> NoReturn:
    """One line per problem on stderr, exit status 2."""
    for problem in problems:
        click.echo(f"rod reconcile: {problem}", err=True)
    sys.exit(2)


def _settings(config_path: str | None) -> Settings:
    """Settings as `rod serve` reads them; ConfigError with one line per problem."""
    settings = read_settings(config_path, os.environ, webhook=False)  # it receives none
    github_auth(settings)  # no GitHub credential: say so now
    return settings


_READS = {"list-jobs", "list", "read"}  # what a dry run does: list children, Variables, read one


def _needs(settings: Settings, *, dry_run: bool) -> list[Need]:
    """What `rod reconcile` calls of Nomad (deploy/nomad/rod-policy.hcl): as `rod serve`'s
    reconciler, with its state Variable even where `rod serve` runs no loop; a dry run reads."""
    jobs = [pool.nomad_job for pool in settings.policy.pools]
    wanted = needs(settings.nomad_namespace, jobs, settings.reconcile.state_variable)
    if dry_run:
        wanted = [need for need in wanted if need.op in _READS or set(need.any_of) & _READS]
    return wanted


async def _check_token(settings: Settings, *, dry_run: bool) -> TokenCheck:
    """What NOMAD_TOKEN lacks, asked before anything is read or changed (as `rod serve` asks)."""
    github_client, nomad_client = clients(settings)
    async with github_client, nomad_client:
        nomad = nomad_port(settings, nomad_client)
        return await check_token(nomad, _needs(settings, dry_run=dry_run), settings.nomad_token)


async def _main(settings: Settings, repos: Sequence[str], *, once: bool, dry_run: bool) -> int:
    """Build the ports, run the loop or one tick, close everything."""
    github_client, nomad_client = clients(settings)
    async with github_client, nomad_client:
        parts = build(settings, github_client, nomad_client, metrics=Metrics(), repos=repos)
        reconciler, pipeline = parts.reconciler, parts.pipeline
        jobs = runner_job_ids(settings.policy)
        blocked = await runner_job_problems(parts.nomad, jobs, settings.nomad_namespace)
        if not once:  # the loop reports nothing until it ends: say it now
            for problem in blocked:
                logging.getLogger(__name__).warning("rod reconcile: %s", problem)
        if dry_run:
            report = await reconciler.preview()
            serving = _serving(reconciler, report)
            click.echo(describe(report, dry_run=True, runner_jobs=blocked, serving=serving))
            return 1 if report.problems or blocked else 0
        carried: dict[str, Outcome] = {}
        pipeline.start()
        try:
            if not once:
                # SIGTERM (a supervisor stopping it) ends the loop as Ctrl-C does: the
                # dispatches in hand are carried out first.
                main = asyncio.current_task()
                assert main is not None
                asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main.cancel)
                interval = settings.reconcile.interval_seconds or 60.0
                logging.getLogger(__name__).info("rod reconcile: a pass every %gs", interval)
                await reconciler.run(interval)
            pipeline.on_outcome = carried.__setitem__  # the runners of the pass printed below
            report = await reconciler.tick()
        finally:
            await pipeline.stop()  # carry out the dispatches
        serving = _serving(reconciler, report)
        click.echo(describe(report, runner_jobs=blocked, serving=serving, carried=carried))
        return 1 if report.problems or blocked or not _all_made(report, carried) else 0


def _all_made(report: Report, carried: Mapping[str, Outcome]) -> bool:
    """Whether every runner the tick queued reached Nomad (or was there already)."""
    made = (Outcome.DISPATCHED, Outcome.EXISTING)
    return all(
        carried.get(outcome.action.runner_name) in made
        for outcome in report.outcomes
        if isinstance(outcome.action, MakeRunner) and outcome.result is ActionResult.QUEUED
    )


def _serving(reconciler: Reconciler, report: Report) -> Serving | None:
    """The repositories the tick served and why, and what the state Variable holds."""
    if report.observation is None:
        return None
    remembered = reconciler.remembered
    return Serving(
        reconciler.repos.served(report.observation.children),
        reconciler.policy.decision.allows,
        reconciler.repos.gone,
        remembered.path if remembered else "",
        remembered.held if remembered else None,
    )
