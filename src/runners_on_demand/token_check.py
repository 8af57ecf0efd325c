"""Whether NOMAD_TOKEN may do what rod calls: asked of Nomad at start and by `/readyz`.

The token reads itself (`/v1/acl/token/self`) and the policies it holds (a client token may read
those: nomad/acl_endpoint.go GetPolicy), then `nomad_acl` compares them with rod's needs. A token
missing a capability is one line naming it, rather than a 403 on every call. Nothing is checked
when Nomad's ACLs are off, or for a workload identity (its policies are not readable by secret).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from runners_on_demand.config import Settings
from runners_on_demand.errors import NomadError
from runners_on_demand.nomad_acl import Need, grants, missing, needs
from runners_on_demand.ports import NomadPort
from runners_on_demand.ports.protocols import AclToken

__all__ = ["TokenCheck", "TokenStatus", "check_token", "needs_of"]

# What a request without a token is (nomad/structs AnonymousACLToken): the `anonymous` policy.
_ANONYMOUS = AclToken(type="client", policies=("anonymous",))


class TokenStatus(enum.StrEnum):
    """How the check ended."""

    OK = "ok"
    SKIPPED = "skipped"  # nothing to check: ACLs off, a workload identity, no RulesJSON
    LACKING = "lacking"  # the token misses a capability, or Nomad does not know it
    UNKNOWN = "unknown"  # Nomad could not be asked


@dataclass(frozen=True)
class TokenCheck:
    """The outcome and one line saying it."""

    status: TokenStatus
    line: str

    @property
    def usable(self) -> bool:
        """True unless the token is known to fall short."""
        return self.status is not TokenStatus.LACKING

    @property
    def ready(self) -> bool:
        """What `/readyz` counts: checked and fine, or nothing to check."""
        return self.status in (TokenStatus.OK, TokenStatus.SKIPPED)


def needs_of(settings: Settings) -> list[Need]:
    """rod's needs under `settings`: its namespace, the pools' Nomad jobs, its state Variable."""
    jobs = [pool.nomad_job for pool in settings.policy.pools]
    reconcile = settings.reconcile
    state = reconcile.state_variable if reconcile.interval_seconds else ""  # the loop uses it
    return needs(settings.nomad_namespace, jobs, state)


def _looks_like_jwt(secret: str) -> bool:
    """A workload identity is a JWT (three base64url parts); ACL token secrets are UUIDs."""
    return secret.count(".") == 2


async def check_token(nomad: NomadPort, wanted: Sequence[Need], token: str | None) -> TokenCheck:
    """Ask Nomad what the token (`token`: NOMAD_TOKEN, None for none) holds; compare."""
    try:
        found = await nomad.acl_token_self()
    except NomadError as error:
        if error.status not in (403, 404):
            return TokenCheck(TokenStatus.UNKNOWN, f"cannot check NOMAD_TOKEN: {error}")
        if token and _looks_like_jwt(token):
            line = "NOMAD_TOKEN is a workload identity: its policies cannot be checked"
            return TokenCheck(TokenStatus.SKIPPED, line)
        if token:
            line = f"NOMAD_TOKEN is not a token this Nomad knows ({error})"
            return TokenCheck(TokenStatus.LACKING, line)
        found = _ANONYMOUS  # no token: Nomad applies the anonymous policy
    if found is None:
        return TokenCheck(TokenStatus.SKIPPED, "Nomad's ACLs are off: no token needed")
    if found.type == "management":
        return TokenCheck(TokenStatus.OK, "NOMAD_TOKEN is a management token")
    try:
        names = list(found.policies)
        for role in found.role_ids:
            names += await nomad.acl_role_policies(role)
        rules = [await _rules(nomad, name) for name in dict.fromkeys(names)]
    except NomadError as error:
        return TokenCheck(TokenStatus.UNKNOWN, f"cannot read NOMAD_TOKEN's policies: {error}")
    if any(r is None for r in rules):
        line = "Nomad sends no RulesJSON for the token's policies: capabilities not checked"
        return TokenCheck(TokenStatus.SKIPPED, line)
    lacking = missing(grants(r for r in rules if r is not None), wanted)
    if lacking:
        who = "NOMAD_TOKEN" if token else "without NOMAD_TOKEN, the anonymous policy"
        line = f"{who} lacks {'; '.join(need.describe() for need in lacking)}"
        return TokenCheck(TokenStatus.LACKING, line)
    line = f"NOMAD_TOKEN may make every call rod makes (policies: {', '.join(names)})"
    return TokenCheck(TokenStatus.OK, line)


async def _rules(nomad: NomadPort, name: str) -> Mapping[str, Any] | None:
    """A policy's RulesJSON; a policy gone since the token was made grants nothing."""
    try:
        return await nomad.acl_policy_rules(name)
    except NomadError as error:
        if error.status == 404:
            return {}
        raise
