"""ACL policy rules and the compiled ACL object (`acl/policy.go`, `acl/acl.go`), as pure code.

`parse_rules` is `acl.Parse(rules, strict)`: HCL or JSON rules, shorthands expanded, Nomad's error
texts. `Acl` answers the questions the endpoints ask (`AllowNsOp`, `AllowVariableOperation`,
`AllowNodeRead`, `IsManagement`), with exact matches before globs and `deny` winning.
https://developer.hashicorp.com/nomad/docs/other-specifications/acl-policy
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import hcl2

_loads: Callable[[str], dict[str, Any]] = hcl2.loads  # type: ignore[attr-defined]

# policy.go expandNamespacePolicy: the `policy = "..."` shorthand of a namespace block.
_READ = (
    "list-jobs", "parse-job", "read-job", "csi-list-volume", "csi-read-volume",
    "read-job-scaling", "list-scaling-policies", "read-scaling-policy", "host-volume-read",
)  # fmt: skip
_WRITE = (
    *_READ, "scale-job", "submit-job", "dispatch-job", "read-logs", "read-fs", "alloc-exec",
    "alloc-lifecycle", "csi-mount-volume", "csi-write-volume", "submit-recommendation",
    "host-volume-create",
)  # fmt: skip
_SCALE = (
    "list-scaling-policies", "read-scaling-policy", "read-job-scaling", "scale-job", "read-job",
    "submit-recommendation",
)  # fmt: skip
SHORTHANDS: Mapping[str, tuple[str, ...]] = {
    "deny": ("deny",),
    "read": _READ,
    "write": _WRITE,
    "scale": _SCALE,
}
# isNamespaceCapabilityValid; register/deregister/purge-job and the other fine-grained job
# capabilities exist since 1.11.2 (GH-27287): older servers refuse a policy that names them.
NAMESPACE_CAPABILITIES = frozenset((
    *_WRITE, "deny", "alloc-node-exec", "sentinel-override", "csi-register-plugin",
    "host-volume-register", "host-volume-write", "host-volume-delete", "register-job",
    "revert-job", "deregister-job", "purge-job", "evaluate-job", "plan-job", "stable-job",
    "tag-job-version", "fail-deployment", "pause-deployment", "promote-deployment",
    "unblock-deployment", "cancel-deployment", "set-alloc-health-deployment", "gc-allocation",
    "pause-allocation", "force-periodic-job", "delete-service-registration",
))  # fmt: skip
VARIABLE_CAPABILITIES = frozenset({"write", "read", "list", "destroy", "deny"})
_LEVELS = ("deny", "read", "write", "scale")  # isPolicyValid
_VALID_NAMESPACE = re.compile(r"^[a-zA-Z0-9\-*]{1,128}$")
# acl.go L692: a workload may read and list its own job's variables.
WORKLOAD_VARIABLE_CAPABILITIES = frozenset({"read", "list"})


class PolicyError(ValueError):
    """Rules that `acl.Parse` refuses; the message is Nomad's."""


@dataclass(frozen=True)
class NamespaceRules:
    """One `namespace "<name>" { ... }` block, shorthand already expanded."""

    name: str
    capabilities: frozenset[str]
    variables: tuple[tuple[str, frozenset[str]], ...] = ()


@dataclass(frozen=True)
class Rules:
    """A parsed policy: namespace blocks and the single-level blocks (node, agent, ...)."""

    namespaces: tuple[NamespaceRules, ...] = ()
    levels: Mapping[str, str] = field(default_factory=dict)  # node/agent/operator/... -> level


@dataclass(frozen=True)
class Claim:
    """`acl.ACLClaim`: whose workload identity is asking (job is the parent for children)."""

    namespace: str
    job: str
    group: str
    task: str


@dataclass(frozen=True)
class Identity:
    """Who is calling: an ACL token (None when ACLs are off) or a workload's claim."""

    token: Mapping[str, Any] | None = None
    claim: Claim | None = None
    alloc_id: str = ""


@dataclass(frozen=True)
class Caller:
    """An authenticated identity and the ACL it resolved to."""

    identity: Identity
    acl: Acl

    @property
    def claim(self) -> Claim | None:
        """The workload's claim, when a task's identity is calling."""
        return self.identity.claim

    def may(self, namespace: str, path: str, op: str) -> bool:
        """`AllowVariableOperation` with the caller's claim."""
        return self.acl.allow_variable(namespace, path, op, self.identity.claim)


ANONYMOUS: Mapping[str, Any] = {
    "AccessorID": "anonymous",
    "SecretID": "",
    "Name": "Anonymous Token",
    "Type": "client",
    "Policies": ["anonymous"],
    "Roles": None,
    "Global": False,
}


ACLS_DISABLED: Mapping[str, Any] = {
    "AccessorID": "acls-disabled",
    "SecretID": "",
    "Name": "ACLs disabled token",
    "Type": "client",
    "Policies": None,
    "Roles": None,
    "Global": False,
}


def _labelled(value: Any) -> list[tuple[str, dict[str, Any]]]:
    """`name "label" { ... }` as hcl2 (a list of {label: body}) or JSON ({label: body}) gives it."""
    items = value if isinstance(value, list) else [value]
    out: list[tuple[str, dict[str, Any]]] = []
    for item in items:
        if not isinstance(item, dict):
            raise PolicyError(f"Failed to parse ACL Policy: unexpected {item!r}")
        for label, body in item.items():
            out.append((str(label), body if isinstance(body, dict) else {}))
    return out


def _body(value: Any) -> dict[str, Any]:
    """An unlabelled block: hcl2 wraps it in a list."""
    if isinstance(value, list):
        merged: dict[str, Any] = {}
        for item in value:
            merged.update(item)
        return merged
    return value if isinstance(value, dict) else {}


def _decode(text: str) -> dict[str, Any]:
    try:
        if text.lstrip().startswith("{"):
            decoded = json.loads(text)
            if isinstance(decoded, dict):
                return decoded
        return _loads(text)
    except Exception as exc:  # json and lark errors of many types
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise PolicyError(f"Failed to parse ACL Policy: {first}") from exc


def _namespace(name: str, body: dict[str, Any]) -> NamespaceRules:
    level = str(body.get("policy") or "")
    caps = [str(c) for c in body.get("capabilities") or []]
    if not _VALID_NAMESPACE.match(name):
        raise PolicyError(f"Invalid namespace name: {name!r}")
    if level and level not in _LEVELS:
        raise PolicyError(f"Invalid namespace policy: {level!r} in namespace {name}")
    for cap in caps:
        if cap not in NAMESPACE_CAPABILITIES:
            raise PolicyError(f"Invalid namespace capability '{cap}' in namespace {name}")
    expanded = set(caps) | set(SHORTHANDS.get(level, ()))
    if "deny" in expanded:
        expanded = {"deny"}
    paths: list[tuple[str, frozenset[str]]] = []
    if "variables" in body:
        entries = _labelled(_body(body["variables"]).get("path") or [])
        if not entries:
            raise PolicyError(f"Invalid variable policy: no variable paths in namespace {name}")
        for spec, path_body in entries:
            if spec.startswith("/"):
                raise PolicyError(
                    f'Invalid variable path "{spec}" in namespace {name}: '
                    "cannot start with a leading '/'`"
                )
            path_caps = {str(c) for c in path_body.get("capabilities") or []}
            for cap in sorted(path_caps - VARIABLE_CAPABILITIES):
                raise PolicyError(f"Invalid variable capability '{cap}' in namespace {name}")
            if "deny" in path_caps:  # expandVariablesCapabilities: deny alone
                path_caps = {"deny"}
            elif "read" in path_caps:  # read implies list
                path_caps.add("list")
            paths.append((spec, frozenset(path_caps)))
    return NamespaceRules(name, frozenset(expanded), tuple(paths))


def parse_rules(text: str) -> Rules:
    """`acl.Parse(rules, PolicyParseStrict)`: rules text -> `Rules`, or `PolicyError`."""
    if not text.strip():
        return Rules()
    raw = _decode(text)
    namespaces: list[NamespaceRules] = []
    levels: dict[str, str] = {}
    for key, value in raw.items():
        if key == "namespace":
            namespaces.extend(_namespace(n, b) for n, b in _labelled(value))
        elif key in ("node", "agent", "operator", "quota", "plugin", "sentinel"):
            level = str(_body(value).get("policy") or "")
            allowed = (*_LEVELS, "list") if key == "plugin" else _LEVELS
            if level not in allowed and not (key in ("operator", "sentinel") and not level):
                raise PolicyError(f"Invalid {key} policy: {level!r}")
            levels[key] = level
        elif key in ("node_pool", "host_volume"):
            continue  # accepted; no emulated endpoint asks about them
        else:
            raise PolicyError(f"Invalid or duplicate policy keys: {key}")
    if not namespaces and not levels and not any(k in raw for k in ("node_pool", "host_volume")):
        raise PolicyError(f"Invalid policy: {text}")
    return Rules(tuple(namespaces), levels)


def rules_json(rules: Rules) -> dict[str, Any]:
    """The `RulesJSON` a policy read returns (acl.Policy, capabilities expanded)."""
    out: dict[str, Any] = {
        "Namespaces": [
            {
                "Name": ns.name,
                "Policy": "",
                "Capabilities": sorted(ns.capabilities),
                "Variables": {
                    "Paths": [
                        {"PathSpec": spec, "Capabilities": sorted(caps)}
                        for spec, caps in ns.variables
                    ]
                }
                if ns.variables
                else None,
            }
            for ns in rules.namespaces
        ]
    }
    for key, level in rules.levels.items():
        out[key.capitalize()] = {"Policy": level}
    return out


def glob_match(pattern: str, subject: str) -> bool:
    """ryanuber/go-glob `Glob`: `*` matches any run of characters, `/` included."""
    if "*" not in pattern:
        return pattern == subject
    parts = (re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(".*".join(parts), subject, re.DOTALL) is not None


def _closest(table: Mapping[str, set[str]], subject: str) -> set[str] | None:
    """`findClosestMatchingGlob`: the matching glob with the fewest characters left to match."""
    best: tuple[int, set[str]] | None = None
    for pattern, caps in table.items():
        if "*" in pattern and glob_match(pattern, subject):
            difference = len(subject) - len(pattern) + pattern.count("*")
            if best is None or difference < best[0]:
                best = (difference, caps)
    return None if best is None else best[1]


class Acl:
    """`acl.ACL`: compiled from policies, or management (which ACLs disabled also are)."""

    def __init__(self, policies: Iterable[Rules] = (), *, management: bool = False) -> None:
        self.management = management
        self._namespaces: dict[str, set[str]] = {}
        self._variables: dict[str, set[str]] = {}  # "<ns>\0<path spec>" -> capabilities
        self._levels: dict[str, str] = {}
        for rules in policies:
            for ns in rules.namespaces:
                for spec, path_caps in ns.variables:
                    self._variables.setdefault(f"{ns.name}\0{spec}", set()).update(path_caps)
                caps = self._namespaces.setdefault(ns.name, set())
                if "deny" in caps:  # deny always takes precedence (acl.go L189)
                    continue
                if "deny" in ns.capabilities:
                    caps.clear()
                caps.update(ns.capabilities)
            for key, level in rules.levels.items():
                self._levels[key] = _max_privilege(self._levels.get(key, ""), level)

    def allow_ns_op(self, namespace: str, *ops: str) -> bool:
        """`AllowNsOpAnyOf`: any of `ops` granted in `namespace` (`*`: in any namespace)."""
        if self.management:
            return True
        if namespace == "*":
            return any(not caps.isdisjoint(ops) for caps in self._namespaces.values())
        caps = self._namespaces.get(namespace)
        if caps is None:
            caps = _closest(self._namespaces, namespace) or set()
        return "deny" not in caps and not caps.isdisjoint(ops)

    def allow_variable(self, namespace: str, path: str, op: str, claim: Claim | None) -> bool:
        """`AllowVariableOperation`: exact path, then the workload's own paths, then globs."""
        if self.management:
            return True
        key = f"{namespace}\0{path}"
        caps = self._variables.get(key)
        own = claim is not None and claim.namespace == namespace and path in workload_paths(claim)
        if caps is None and own:
            return op in WORKLOAD_VARIABLE_CAPABILITIES
        if caps is None:
            caps = _closest(self._variables, key) or set()
        return op in caps

    def allow_topic(self, namespace: str, topic: str) -> bool:
        """event_endpoint.go `validateNsOp`: job-ish topics need read-job; `*` is management."""
        if topic in ("Job", "Allocation", "Evaluation", "Deployment", "Service"):
            return self.allow_ns_op(namespace, "read-job")
        if topic == "Node":
            return self.allow_node_read()
        return self.management

    def allow_node_read(self) -> bool:
        """`AllowNodeRead`: a `node` policy of read or write."""
        return self.management or self._levels.get("node") in ("read", "write")


def workload_paths(claim: Claim) -> tuple[str, ...]:
    """The exact paths a workload reads without any policy (acl.go L707-713); no sub-paths."""
    job = f"nomad/jobs/{claim.job}"
    return ("nomad/jobs", job, f"{job}/{claim.group}", f"{job}/{claim.group}/{claim.task}")


def _max_privilege(a: str, b: str) -> str:
    """`maxPrivilege`: deny wins, then write, read, list."""
    for level in ("deny", "write", "read", "list"):
        if level in (a, b):
            return level
    return ""
