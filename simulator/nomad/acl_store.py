"""The ACL state of the emulated Nomad: bootstrap, policies, tokens, workload identities.

Operations follow `nomad/acl_endpoint.go` (Bootstrap, UpsertPolicies, DeletePolicies, GetPolicy,
ListPolicies, UpsertTokens, DeleteTokens, GetToken, ListTokens, WhoAmI) and authentication follows
`nomad/auth/auth.go`: no token is the anonymous token (the `anonymous` policy, if any); a UUID
must be a known token; anything else must be a workload identity of a live allocation; every other
case is 403 `Permission denied`. All methods run under the backend's lock.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import jwt

from simulator.nomad.acl import (
    ACLS_DISABLED,
    ANONYMOUS,
    Acl,
    Caller,
    Claim,
    Identity,
    PolicyError,
    parse_rules,
    rules_json,
)
from simulator.nomad.errors import AclDisabled, BadRequest, NotFound, PermissionDenied, multierror
from simulator.nomad.watch import locked

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_POLICY_NAME = re.compile(r"^[a-zA-Z0-9-]{1,128}$")  # structs.ValidPolicyName
MAX_DESCRIPTION = 256  # structs.maxPolicyDescriptionLength
MAX_TOKEN_NAME = 256  # structs.maxTokenNameLength
WORKLOAD_AUDIENCE = "nomadproject.io"  # the default identity's `aud`


def _now() -> str:
    """Go's RFC3339Nano time as the JSON of a time.Time."""
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _hash(*parts: str) -> str:
    """blake2b-256 of the user-set fields (SetHash), as JSON shows a []byte: base64."""
    digest = hashlib.blake2b(digest_size=32)
    for part in parts:
        digest.update(part.encode())
    return base64.b64encode(digest.digest()).decode()


class AclStore:
    """Policies and tokens; `enabled` False means every caller is management."""

    def __init__(
        self,
        *,
        enabled: bool,
        lock: threading.RLock,
        bump: Callable[[], int],
        on_change: Callable[[int], None] = lambda index: None,
    ) -> None:
        self.enabled = enabled
        self.lock = lock
        self._bump = bump
        self._on_change = on_change  # a new policy may unblock a task waiting on its template
        self.policies: dict[str, dict[str, Any]] = {}
        self.tokens: dict[str, dict[str, Any]] = {}  # by AccessorID
        self.bootstrap_index = 0
        self._signing_key = secrets.token_bytes(32)
        self.index = 1

    @locked
    def preset(self, secret: str) -> None:
        """The `--acl-token` shortcut: a management token with this secret; bootstrap is done."""
        fields = {"Name": "Emulator management token", "Type": "management", "Global": True}
        self.bootstrap_index = self._store_token(fields, secret)["CreateIndex"]

    @locked
    def workload(self, claim: Claim) -> Caller:
        """What a task's own identity may do (templates read variables with it)."""
        identity = Identity(claim=claim)
        return Caller(identity, self.resolve(identity))

    def _require_enabled(self, management: Caller | None = None) -> None:
        """ACLs on (else 400), and when `management` is given, that caller is management."""
        if not self.enabled:
            raise AclDisabled()
        if management is not None and not management.acl.management:
            raise PermissionDenied()

    # -- authentication ------------------------------------------------------------------------

    @locked
    def authenticate(self, secret: str, live_claim: Callable[[str, str], Claim | None]) -> Caller:
        """`Authenticate` + `ResolveACL`: the caller, or 403 for a token that is nobody's."""
        if not self.enabled:
            return Caller(Identity(token=ACLS_DISABLED), Acl(management=True))
        if not secret:
            identity = Identity(token=ANONYMOUS)
        elif token := next((t for t in self.tokens.values() if t["SecretID"] == secret), None):
            identity = Identity(token=token)
        elif _UUID.match(secret):
            raise PermissionDenied()
        else:
            identity = self._workload(secret, live_claim)
        return Caller(identity, self.resolve(identity))

    def _workload(self, secret: str, live_claim: Callable[[str, str], Claim | None]) -> Identity:
        """A workload identity JWT of an allocation that still runs (`VerifyClaim`)."""
        try:
            claims = jwt.decode(
                secret, self._signing_key, algorithms=["HS256"], audience=WORKLOAD_AUDIENCE
            )
        except jwt.PyJWTError as exc:
            raise PermissionDenied() from exc
        alloc_id = str(claims.get("nomad_allocation_id", ""))
        claim = live_claim(alloc_id, str(claims.get("nomad_task", "")))
        if claim is None:  # `allocation does not exist` / `allocation is terminal`
            raise PermissionDenied()
        return Identity(claim=claim, alloc_id=alloc_id)

    def resolve(self, identity: Identity) -> Acl:
        """`ResolveACL`: a token's policies, or the policies attached to a workload's job."""
        if not self.enabled:
            return Acl(management=True)
        if identity.claim is not None:
            return Acl(self._rules(self.job_policies(identity.claim)))
        token = identity.token or ANONYMOUS
        if token["Type"] == "management":
            return Acl(management=True)
        return Acl(self._rules(token["Policies"]))

    def _rules(self, names: list[str]) -> list[Any]:
        return [
            parse_rules(self.policies[name]["Rules"]) for name in names if name in self.policies
        ]

    def job_policies(self, claim: Claim) -> list[str]:
        """`ResolvePoliciesForClaims`: policies attached to the job, its group or its task."""
        names = []
        for name, policy in sorted(self.policies.items()):
            job_acl = policy.get("JobACL") or {}
            if (job_acl.get("Namespace"), job_acl.get("JobID")) != (claim.namespace, claim.job):
                continue
            group, task = job_acl.get("Group") or "", job_acl.get("Task") or ""
            if not group or (group == claim.group and task in ("", claim.task)):
                names.append(name)
        return names

    @locked
    def workload_token(self, claim: Claim, alloc_id: str) -> str:
        """A signed workload identity (JWT) for `identity { env | file }` in a task."""
        now = int(time.time())  # real time: PyJWT checks `nbf` against the wall clock
        claims = {
            "nomad_namespace": claim.namespace,
            "nomad_job_id": claim.job,
            "nomad_allocation_id": alloc_id,
            "nomad_task": claim.task,
            "sub": f"global:{claim.namespace}:{claim.job}:{claim.group}:{claim.task}:default",
            "aud": WORKLOAD_AUDIENCE,
            "iat": now,
            "nbf": now,
            "jti": str(uuid.uuid4()),
        }
        return jwt.encode(claims, self._signing_key, algorithm="HS256")

    # -- bootstrap and tokens ------------------------------------------------------------------

    @locked
    def bootstrap(self, secret: str = "") -> dict[str, Any]:
        """`ACL.Bootstrap`: the first management token, once."""
        self._require_enabled()
        if self.bootstrap_index:
            raise BadRequest(f"ACL bootstrap already done (reset index: {self.bootstrap_index})")
        if secret and not _UUID.match(secret):
            raise BadRequest("invalid acl token")
        token = self._store_token(
            {"Name": "Bootstrap Token", "Type": "management", "Global": True}, secret
        )
        self.bootstrap_index = token["CreateIndex"]
        return copy.deepcopy(token)

    def _store_token(self, fields: Mapping[str, Any], secret: str = "") -> dict[str, Any]:
        index = self._bump()
        self.index = index
        token: dict[str, Any] = {
            "AccessorID": str(uuid.uuid4()),
            "SecretID": secret or str(uuid.uuid4()),
            "Name": str(fields.get("Name") or ""),
            "Type": str(fields.get("Type") or ""),
            "Policies": list(fields.get("Policies") or []) or None,
            "Roles": None,
            "Global": bool(fields.get("Global")),
            "CreateTime": _now(),
            "ExpirationTime": None,
            "ExpirationTTL": "",
            "CreateIndex": index,
            "ModifyIndex": index,
        }
        token["Hash"] = _hash(token["Name"], token["Type"], *(token["Policies"] or []))
        self.tokens[token["AccessorID"]] = token
        return token

    @locked
    def upsert_token(self, body: Mapping[str, Any], caller: Caller) -> dict[str, Any]:
        """`ACL.UpsertTokens` for one token; updates keep the IDs, creations get new ones."""
        self._require_enabled(caller)
        errors = _token_errors(body)
        if errors:
            raise BadRequest(f"token 0 invalid: {multierror(errors)}")
        existing = self.tokens.get(str(body.get("AccessorID") or ""))
        if body.get("AccessorID") and existing is None:
            raise BadRequest(f"cannot find token {body['AccessorID']}")
        if existing is None:
            return copy.deepcopy(self._store_token(body))
        index = self._bump()
        self.index = index
        existing.update(
            Name=str(body.get("Name") or ""),
            Type=str(body["Type"]),
            Policies=list(body.get("Policies") or []) or None,
            ModifyIndex=index,
        )
        existing["Hash"] = _hash(existing["Name"], existing["Type"], *(existing["Policies"] or []))
        return copy.deepcopy(existing)

    @locked
    def delete_token(self, accessor: str, caller: Caller) -> int:
        """`ACL.DeleteTokens` for one accessor."""
        self._require_enabled(caller)
        if accessor not in self.tokens:
            raise BadRequest(f"Cannot delete nonexistent tokens: {accessor}")
        del self.tokens[accessor]
        self.index = self._bump()
        return self.index

    @locked
    def resolve_token(self, secret: str) -> dict[str, Any]:
        """`ACL.ResolveToken` (`/v1/acl/token/self`): by secret, without authenticating first.

        No token, an unknown one and a workload identity are all 404 `ACL token not found`
        (nomad/acl_endpoint.go ResolveToken; command/agent/acl_endpoint.go aclTokenSelf).
        """
        self._require_enabled()
        token = next((t for t in self.tokens.values() if secret and t["SecretID"] == secret), None)
        if token is None:
            raise NotFound("ACL token not found")
        return copy.deepcopy(token)

    @locked
    def get_token(self, accessor: str, caller: Caller) -> dict[str, Any]:
        """`ACL.GetToken`: management, or the token's own holder."""
        self._require_enabled()
        token = self.tokens.get(accessor)
        secret = (caller.identity.token or {}).get("SecretID")
        if not caller.acl.management and (token is None or token["SecretID"] != secret):
            raise PermissionDenied()
        if token is None:
            raise NotFound("ACL token not found")
        return copy.deepcopy(token)

    @locked
    def list_tokens(self, caller: Caller) -> list[dict[str, Any]]:
        """`ACL.ListTokens`: stubs (no SecretID), by accessor."""
        self._require_enabled(caller)
        return [
            {k: v for k, v in copy.deepcopy(t).items() if k != "SecretID"}
            for _, t in sorted(self.tokens.items())
        ]

    # -- policies ------------------------------------------------------------------------------

    @locked
    def upsert_policy(self, name: str, body: Mapping[str, Any], caller: Caller) -> int:
        """`ACL.UpsertPolicies` for one policy: validated, hashed, stored."""
        self._require_enabled(caller)
        errors = _policy_errors(body)
        if errors:
            raise BadRequest(f"policy 0 invalid: {multierror(errors)}")
        index = self._bump()
        self.index = index
        old = self.policies.get(name)
        job_acl = body.get("JobACL") or None
        policy: dict[str, Any] = {
            "Name": name,
            "Description": str(body.get("Description") or ""),
            "Rules": str(body.get("Rules") or ""),
            "JobACL": dict(job_acl) if job_acl else None,
            "CreateIndex": old["CreateIndex"] if old else index,
            "ModifyIndex": index,
        }
        acl_parts = [str(v or "") for v in (policy["JobACL"] or {}).values()]
        policy["Hash"] = _hash(name, policy["Description"], policy["Rules"], *acl_parts)
        self.policies[name] = policy
        self._on_change(index)
        return index

    @locked
    def delete_policy(self, name: str, caller: Caller) -> int:
        """`ACL.DeletePolicies`: a name that does not exist is not an error."""
        self._require_enabled(caller)
        self.policies.pop(name, None)
        self.index = self._bump()
        return self.index

    @locked
    def get_policy(self, name: str, caller: Caller) -> dict[str, Any]:
        """`ACL.GetPolicy`: management, a token holding it, or anyone for `anonymous`."""
        self._require_enabled()
        if not (caller.acl.management or name == "anonymous" or name in self._held(caller)):
            raise PermissionDenied()
        policy = self.policies.get(name)
        if policy is None:
            raise NotFound("ACL policy not found")
        out = copy.deepcopy(policy)
        out["RulesJSON"] = rules_json(parse_rules(policy["Rules"]))
        return out

    @locked
    def list_policies(self, caller: Caller, prefix: str = "") -> list[Any]:
        """`ACL.ListPolicies`: stubs of what the caller may see, by name."""
        self._require_enabled()
        held = self._held(caller)
        return [
            {k: v for k, v in copy.deepcopy(p).items() if k != "Rules"}
            for name, p in sorted(self.policies.items())
            if name.startswith(prefix) and (caller.acl.management or name in held)
        ]

    def _held(self, caller: Caller) -> set[str]:
        if caller.claim is not None:
            return set(self.job_policies(caller.claim))
        return set((caller.identity.token or ANONYMOUS).get("Policies") or [])


def _token_errors(body: Mapping[str, Any]) -> list[str]:
    """`ACLToken.Validate` for the fields this emulator stores."""
    errors = []
    if len(str(body.get("Name") or "")) > MAX_TOKEN_NAME:
        errors.append("token name too long")
    kind, policies = body.get("Type"), body.get("Policies") or []
    if kind == "client" and not policies:
        errors.append("client token missing policies or roles")
    elif kind == "management" and policies:
        errors.append("management token cannot be associated with policies or roles")
    elif kind not in ("client", "management"):
        errors.append("token type must be client or management")
    return errors


def _policy_errors(body: Mapping[str, Any]) -> list[str]:
    """`ACLPolicy.Validate`."""
    errors = []
    name = str(body.get("Name") or "")
    if not _POLICY_NAME.match(name):
        errors.append(f"invalid name '{name}'")
    try:
        parse_rules(str(body.get("Rules") or ""))
    except PolicyError as exc:
        errors.append(f"failed to parse rules: {exc}")
    if len(str(body.get("Description") or "")) > MAX_DESCRIPTION:
        errors.append(f"description longer than {MAX_DESCRIPTION}")
    job_acl = body.get("JobACL") or {}
    if job_acl.get("JobID") and not job_acl.get("Namespace"):
        errors.append("namespace must be set to set job ID")
    if job_acl.get("Group") and not job_acl.get("JobID"):
        errors.append("job ID must be set to set group")
    if job_acl.get("Task") and not job_acl.get("Group"):
        errors.append("group must be set to set task")
    return errors
