"""The parts built from Settings on two HTTP clients, for `rod serve` and `rod reconcile`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from runners_on_demand.backoff import Backoff
from runners_on_demand.config import Settings, load_settings
from runners_on_demand.errors import ConfigError
from runners_on_demand.metrics import Metrics
from runners_on_demand.ports.github import AppAuth, GitHubAuth, GitHubRunners, PatAuth
from runners_on_demand.ports.nomad import NomadJobs
from runners_on_demand.reconciler import Reconciler
from runners_on_demand.service import Dispatcher


@dataclass(frozen=True)
class Parts:
    """The two ports, the dispatcher's queue and the reconciler that feeds it."""

    github: GitHubRunners
    nomad: NomadJobs
    dispatcher: Dispatcher
    reconciler: Reconciler


def read_text(path: str) -> str:
    """A UTF-8 file's text (the config file, NOMAD_CACERT, the App key)."""
    return Path(path).read_text(encoding="utf-8")


def read_settings(config_path: str | None, environ: Mapping[str, str]) -> Settings:
    """Settings from the environment and an optional TOML file; ConfigError lists problems."""
    toml_text = None
    if config_path is not None:
        try:
            toml_text = read_text(config_path)
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or type(error).__name__
            raise ConfigError([f"cannot read config file {config_path}: {reason}"]) from None
    return load_settings(environ, toml_text, read_file=read_text)


def github_auth(settings: Settings) -> GitHubAuth:
    """The configured GitHub credential: a token, else a GitHub App."""
    if settings.github_token:
        return PatAuth(settings.github_token)
    if settings.github_app_id and settings.github_app_private_key:
        return AppAuth(settings.github_app_id, settings.github_app_private_key)
    raise ConfigError(["no GitHub credential: set GITHUB_TOKEN or a GitHub App"])


def build(
    settings: Settings,
    github_client: httpx.AsyncClient,
    nomad_client: httpx.AsyncClient,
    *,
    metrics: Metrics,
    repos: Sequence[str] = (),
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    backoff: Backoff | None = None,
) -> Parts:
    """Ports, dispatcher and reconciler as `settings` describe them."""
    github = GitHubRunners(github_client, github_auth(settings), clock=clock)
    nomad = NomadJobs(
        nomad_client,
        token=settings.nomad_token,
        namespace=settings.nomad_namespace,
        region=settings.nomad_region,
        headers=settings.nomad_headers,
    )
    dispatcher = Dispatcher(
        github,
        nomad,
        metrics=metrics,
        credential=settings.credential_mode,
        runner_group_id=settings.runner_group_id,
        queue_size=settings.queue_size,
        workers=settings.workers,
        dedup_size=settings.dedup_size,
        backoff=backoff,
        sleep=sleep,
    )
    reconcile = settings.reconcile
    reconciler = Reconciler(
        github,
        nomad,
        dispatcher,
        policy=reconcile.policy(settings.policy, jit=settings.credential_mode == "jit"),
        repos=(*reconcile.repos, *repos),
        metrics=metrics,
        submit_limit=max(1, settings.queue_size // 2),
        clock=clock,
    )
    return Parts(github, nomad, dispatcher, reconciler)
