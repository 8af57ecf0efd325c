"""The scale set, got or created; and the check `rod listen` makes with it before serving.

`set_up` runs at every (re)start of the listener's session. An answer no retry will change is
`Refused`, one line naming what is wrong:
    401                   GitHub refuses the credential (wrong, expired or revoked token or App)
    403, not a limit      the credential may not administer the scope's runners
    404                   no such repository or organization, or one the credential may not
                          administer (GitHub answers 404 rather than 403 there), no App
                          installation on it, or no scale set registration (runner-registration)
    no runner group       [S] GetRunnerGroupByName: "no runner group found with name"
    other 4xx             the service refuses the scale set (e.g. 400 for its name or labels)
No answer, 408, 409, 429, 5xx and rate limits are transient: the listener backs off and tries
again, as [S] retries them (common_client.go).

`check_start` runs `set_up` once before `rod listen` serves: a refusal ends it (exit status 2)
before anything lasting is made, since the scale set is created last; a transient failure is
logged, and left to the listener, which keeps trying. It tries each call once: a GitHub that
does not answer must not keep the health port closed until Nomad's `check_restart` kills it.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from runners_on_demand.config import Settings
from runners_on_demand.errors import UpstreamError
from runners_on_demand.listen.client import ScaleSetClient
from runners_on_demand.listen.errors import Refused, ScaleSetExists
from runners_on_demand.listen.protocol import ScaleSetInfo
from runners_on_demand.listen.scope import parse_config_url
from runners_on_demand.listen.settings import ListenSettings
from runners_on_demand.wiring import clients, github_auth

__all__ = ["check_start", "refusal", "scale_set_client", "set_up"]

log = logging.getLogger(__name__)
TRANSIENT = (408, 409, 429)  # timeout, conflict, too many requests: worth another try


def scale_set_client(settings: Settings, http: httpx.AsyncClient, **options: Any) -> ScaleSetClient:
    """The scale set client of `[listen] url`, with the configured credential."""
    installation = settings.listen.installation_id or None
    auth = github_auth(settings)
    scope = parse_config_url(settings.listen.url)
    return ScaleSetClient(http, scope, auth, installation_id=installation, **options)


async def set_up(client: ScaleSetClient, settings: ListenSettings) -> ScaleSetInfo:
    """The scale set, got or created in its runner group with the configured labels."""
    try:
        return await _get_or_create(client, settings)
    except Refused:
        raise
    except UpstreamError as error:
        line = refusal(error, client)
        if line is None:
            raise
        raise Refused(line, status=error.status) from error


async def _get_or_create(client: ScaleSetClient, settings: ListenSettings) -> ScaleSetInfo:
    labels, name = settings.scale_set_labels, settings.scale_set
    group = await client.runner_group(settings.runner_group)
    if group is None:
        scope = client.scope.name
        line = f"listen.runner_group: {scope} has no runner group named {settings.runner_group!r}"
        raise Refused(line, status=None)
    found = await client.find_scale_set(group, name)
    if found is None:
        try:
            found = await client.create_scale_set(name, group, labels)
            log.info("listener: created scale set %s (id %d)", found.name, found.id)
        except ScaleSetExists:
            found = await client.find_scale_set(group, name)
            if found is None:  # made and gone again meanwhile: the next try will tell
                raise
    if sorted(found.labels) != sorted(labels):
        found = await client.update_labels(found.id, labels)
    return found


def refusal(error: UpstreamError, client: ScaleSetClient) -> str | None:
    """The operator's line for an answer no retry will change, else None (transient)."""
    status = error.status
    if error.retryable or status is None or not 400 <= status < 500 or status in TRANSIENT:
        return None
    who, scope = client.credential, client.scope
    if status == 401:
        return f"GitHub refuses {who}: {error}"
    if status == 403:
        return f"{who} may not administer the runners of {scope.name}: {error}"
    if status == 404:
        return (
            f"listen.url: {scope.url} does not exist, or {who} may not administer its "
            f"runners: {error}"
        )
    return f"GitHub refuses the scale set: {error}"


async def check_start(settings: Settings) -> str | None:
    """Set the scale set up once, before serving: the refusal's line, else None."""
    github_client, nomad_client = clients(settings)
    async with github_client, nomad_client:
        client = scale_set_client(settings, github_client, retries=0)
        try:
            found = await set_up(client, settings.listen)
        except Refused as refused:
            return str(refused)
        except UpstreamError as error:
            log.warning("rod listen: cannot set the scale set up yet (%s); trying again", error)
            return None
    log.info("rod listen: scale set %s (id %d) is ready", found.name, found.id)
    return None
