"""The parts built from Settings, for `rod serve` and `rod reconcile`: clients, ports, pipeline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import httpx

from runners_on_demand.api_client import ApiClient
from runners_on_demand.backoff import Backoff, Retrier
from runners_on_demand.carrier import Carrier, LocalCarrier
from runners_on_demand.config import Settings, load_settings
from runners_on_demand.credentials import GitHubCredentials
from runners_on_demand.errors import ConfigError
from runners_on_demand.metrics import Metrics
from runners_on_demand.org_groups import resolve
from runners_on_demand.pipeline import Pipeline
from runners_on_demand.ports.github import GitHubHttp
from runners_on_demand.ports.github_auth import AppAuth, GitHubAuth, PatAuth
from runners_on_demand.ports.nomad import NomadHttp, tls_context
from runners_on_demand.reconcile.heard_variable import HeardVariable
from runners_on_demand.reconcile.loop import Reconciler, ServedRepos
from runners_on_demand.reconcile.plan import ReconcilePolicy
from runners_on_demand.runner_job_check import job_check
from runners_on_demand.transport import Transport

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Per-call timeout towards GitHub and Nomad; GitHub gives a webhook 10 s, but calls happen later.
UPSTREAM_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
# Kept-alive connections per upstream: GitHub allows 100 requests at once. An idle one is let go
# after 4 s, before a server with the common 5 s idle timeout (uvicorn's, nginx's 75 s is longer)
# closes it under a request that would then fail.
UPSTREAM_LIMITS = httpx.Limits(max_connections=100, keepalive_expiry=4.0)


@dataclass(frozen=True)
class Parts:
    """The two ports, the pipeline and the reconciler that feeds it."""

    github: GitHubHttp
    nomad: NomadHttp
    pipeline: Pipeline
    reconciler: Reconciler


def read_text(path: str) -> str:
    """A UTF-8 file's text (the config file, NOMAD_CACERT, the App key)."""
    return Path(path).read_text(encoding="utf-8")


def read_settings(
    config_path: str | None, environ: Mapping[str, str], *, webhook: bool = True
) -> Settings:
    """Settings from the environment and an optional TOML file; ConfigError lists problems."""
    toml_text = None
    if config_path is not None:
        try:
            toml_text = read_text(config_path)
        except UnicodeDecodeError as error:  # TOML is UTF-8 (toml.io, "Spec")
            reason = f"not UTF-8 text (byte {error.start})"
            raise ConfigError([f"cannot read config file {config_path}: {reason}"]) from None
        except OSError as error:
            reason = error.strerror or type(error).__name__
            raise ConfigError([f"cannot read config file {config_path}: {reason}"]) from None
    return load_settings(environ, toml_text, read_file=read_text, webhook=webhook)


def github_auth(settings: Settings) -> GitHubAuth:
    """The configured GitHub credential: a token, else a GitHub App."""
    if settings.github_token:
        return PatAuth(settings.github_token)
    if settings.github_app_id and settings.github_app_private_key:
        return AppAuth(settings.github_app_id, settings.github_app_private_key)
    raise ConfigError(["no GitHub credential: set GITHUB_TOKEN or a GitHub App"])


def clients(
    settings: Settings,
    *,
    github_transport: httpx.AsyncBaseTransport | None = None,
    nomad_transport: httpx.AsyncBaseTransport | None = None,
    before_each_call: Callable[[httpx.Request], Awaitable[None]] | None = None,
) -> tuple[httpx.AsyncClient, httpx.AsyncClient]:
    """The GitHub and the Nomad client; tests plug the services in through the transports.

    Each is an `ApiClient` (api_client.py). Without a transport, each gets aiohttp's
    (transport.py). `before_each_call` runs before every request (`rod serve`: the intake goes
    first, intake_first.py).
    """
    verify = tls_context(
        settings.nomad_cacert, settings.nomad_client_cert, settings.nomad_client_key
    )
    hooks = {"request": [before_each_call]} if before_each_call else {}
    github = ApiClient(
        base_url=settings.github_api_url,
        transport=github_transport or Transport(settings.github_api_url, limits=UPSTREAM_LIMITS),
        timeout=UPSTREAM_TIMEOUT,
        event_hooks=hooks,
    )
    nomad = ApiClient(
        base_url=settings.nomad_addr,
        transport=nomad_transport
        or Transport(settings.nomad_addr, verify=verify, limits=UPSTREAM_LIMITS),
        timeout=UPSTREAM_TIMEOUT,
        event_hooks=hooks,
    )
    return github, nomad


def nomad_port(settings: Settings, client: httpx.AsyncClient) -> NomadHttp:
    """The Nomad adapter with the configured token, namespace, region and extra headers."""
    return NomadHttp(
        client,
        token=settings.nomad_token,
        namespace=settings.nomad_namespace,
        region=settings.nomad_region,
        headers=settings.nomad_headers,
    )


async def with_runner_groups(
    settings: Settings, client: httpx.AsyncClient | None = None
) -> Settings:
    """Settings whose pools carry their org runner groups, read from GitHub (see org_groups),
    over `client` (else a client of its own)."""
    if settings.organization is None:
        return settings
    repos = (*settings.reconcile.repos, *(a for a in settings.policy.allow if "/" in a))
    if client is None:
        async with ApiClient(base_url=settings.github_api_url, timeout=UPSTREAM_TIMEOUT) as own:
            return await with_runner_groups(settings, own)
    github = GitHubHttp(client, github_auth(settings))
    policy = await resolve(github, settings.policy, settings.organization, repos)
    return replace(settings, policy=policy)


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
    carrier: Carrier | None = None,
) -> Parts:
    """Ports, pipeline and reconciler as `settings` describe them (runner groups resolved).

    The runners are carried out by `carrier`, or by a `LocalCarrier` on these ports.
    """
    unresolved = [p.name for p in settings.policy.pools if p.runner_group and p.group is None]
    if unresolved:
        raise ConfigError([f"pools {', '.join(unresolved)}: runner group not resolved yet"])
    github = GitHubHttp(github_client, github_auth(settings), clock=clock)
    nomad = nomad_port(settings, nomad_client)
    metrics.track_rate_limit(lambda: github.rate_limit_remaining)
    retrier = Retrier(backoff, sleep=sleep)
    served = ServedRepos(
        (*settings.reconcile.repos, *repos),
        forget_after=settings.reconcile.forget_repos_after_seconds,
        clock=clock,
    )
    pipeline = Pipeline(
        carrier or local_carrier(settings, github, nomad, retrier),
        policy=settings.policy,
        settings=settings.server,
        metrics=metrics,
        retrier=retrier,
        on_repo=served.saw,
        check_job=job_check(nomad, settings.nomad_namespace),
    )
    policy = ReconcilePolicy(
        settings.policy, settings.reconcile, runner_precreated=settings.credential_mode == "jit"
    )
    path = settings.reconcile.state_variable
    reconciler = Reconciler(
        github,
        nomad,
        pipeline,
        policy=policy,
        repos=served,
        remembered=HeardVariable(nomad, path, served) if path else None,
        metrics=metrics,
        clock=clock,
    )
    return Parts(github, nomad, pipeline, reconciler)


def local_carrier(
    settings: Settings, github: GitHubHttp, nomad: NomadHttp, retrier: Retrier
) -> LocalCarrier:
    """The runners' credentials (`credential_mode`) and dispatches, on these ports."""
    credentials = GitHubCredentials(
        github,
        mode=settings.credential_mode,
        runner_group_id=settings.runner_group_id,
        remembered=settings.server.dedup_size,
    )
    return LocalCarrier(credentials, nomad, retrier)
