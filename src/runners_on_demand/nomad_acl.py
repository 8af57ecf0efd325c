"""What `rod serve` needs of its Nomad token, and whether ACL policies grant it (pure).

Policies are read as Nomad returns them: the `RulesJSON` of `GET /v1/acl/policy/:name` (an
`acl.Policy` whose namespace `Capabilities` already include what a `policy = "..."` shorthand
expands to, and whose variable paths already have `list` where they have `read`). Matching
follows Nomad's acl/acl.go: a namespace or variable path matches exactly, else the closest glob
(`findClosestMatchingGlob`: the fewest characters left to the wildcards); `deny` always wins.
https://developer.hashicorp.com/nomad/docs/other-specifications/acl-policy
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Grants", "Need", "grants", "missing", "needs"]


@dataclass(frozen=True)
class Need:
    """One thing rod calls: a namespace capability (any of `any_of`) or a variables operation."""

    namespace: str
    any_of: tuple[str, ...] = ()
    path: str = ""  # a variable path rod uses (variables needs only)
    op: str = ""  # write, destroy, list (variables needs only)
    why: str = ""
    shown_path: str = ""  # the path as the error names it (the policy's glob)

    def describe(self) -> str:
        """One phrase naming the capability, where, and what for."""
        if self.path:
            what = f'variables "{self.op}" on {self.shown_path or self.path}'
        else:
            what = " or ".join(f'"{capability}"' for capability in self.any_of)
        return f'{what} in namespace "{self.namespace}" ({self.why})'


def needs(namespace: str, jobs: Sequence[str], state_variable: str = "") -> list[Need]:
    """What `rod serve` and `rod reconcile` call (deploy/nomad/rod-policy.hcl lists each call).

    Stopping a child without purge is allowed by `deregister-job`, `submit-job` or `purge-job`
    (nomad/job_endpoint.go Deregister). rod also writes each runner's credential at
    nomad/jobs/<job>/credentials/<runner name>, destroys and lists them (contract.py), and
    reads and writes the Variable `state_variable` (the repositories heard of; "" for none).
    """
    found = [
        Need(namespace, ("dispatch-job",), why="to start a runner"),
        Need(namespace, ("list-jobs",), why="to list the runner jobs' children"),
        Need(
            namespace,
            ("deregister-job", "submit-job", "purge-job"),
            why="to stop a surplus runner's job",
        ),
    ]
    for job in dict.fromkeys(jobs):
        shown = f"nomad/jobs/{job}/credentials/*"
        sample = f"nomad/jobs/{job}/credentials/rod-1-1"
        for op in ("write", "destroy", "list"):
            why = f"to {op} runner credentials of {job}"
            found.append(Need(namespace, path=sample, op=op, why=why, shown_path=shown))
    if state_variable:
        why = "to {} the repositories heard of"
        found += [
            Need(namespace, path=state_variable, op=op, why=why.format(op))
            for op in ("read", "write")
        ]
    return found


@dataclass(frozen=True)
class Grants:
    """What a token's policies grant, compiled as acl.NewACL does (a management token is
    recognised before: token_check.py)."""

    namespaces: Mapping[str, frozenset[str]] = field(default_factory=dict)
    variables: Mapping[str, frozenset[str]] = field(default_factory=dict)  # "<ns>\0<path spec>"

    def allows(self, need: Need) -> bool:
        """Whether the token may do `need` (AllowNsOpAnyOf, AllowVariableOperation)."""
        if need.path:
            caps = _lookup(self.variables, f"{need.namespace}\0{need.path}")
            return "deny" not in caps and need.op in caps
        caps = _lookup(self.namespaces, need.namespace)
        return "deny" not in caps and not caps.isdisjoint(need.any_of)


def grants(policies: Iterable[Mapping[str, Any]]) -> Grants:
    """Compile the `RulesJSON` of each of a token's policies into one `Grants`."""
    namespaces: dict[str, set[str]] = {}
    variables: dict[str, set[str]] = {}
    for rules in policies:
        for rule in rules.get("Namespaces") or []:
            name = str(rule.get("Name") or "")
            caps = {str(c) for c in rule.get("Capabilities") or []}
            if rule.get("Policy") == "deny":
                caps.add("deny")
            _merge(namespaces, name, caps)
            paths = (rule.get("Variables") or {}).get("Paths") or []
            for path in paths:
                spec = f"{name}\0{path.get('PathSpec') or ''}"
                _merge(variables, spec, {str(c) for c in path.get("Capabilities") or []})
    return Grants(
        namespaces={k: frozenset(v) for k, v in namespaces.items()},
        variables={k: frozenset(v) for k, v in variables.items()},
    )


def missing(granted: Grants, wanted: Iterable[Need]) -> list[Need]:
    """The needs `granted` does not cover, in order."""
    return [need for need in wanted if not granted.allows(need)]


def _merge(table: dict[str, set[str]], key: str, caps: set[str]) -> None:
    """Union with what earlier policies granted; `deny` replaces everything and stays."""
    current = table.setdefault(key, set())
    if "deny" in current:
        return
    if "deny" in caps:
        current.clear()
        current.add("deny")
        return
    current.update(caps)


def _lookup(table: Mapping[str, frozenset[str]], subject: str) -> frozenset[str]:
    """An exact entry, else the closest matching glob's, else nothing."""
    exact = table.get(subject)
    if exact is not None:
        return exact
    best: tuple[int, frozenset[str]] | None = None
    for pattern, caps in table.items():
        if "*" in pattern and _glob(pattern, subject):
            difference = len(subject) - len(pattern) + pattern.count("*")
            if best is None or difference < best[0]:
                best = (difference, caps)
    return frozenset() if best is None else best[1]


def _glob(pattern: str, subject: str) -> bool:
    """ryanuber/go-glob: `*` matches any run of characters, `/` included."""
    parts = (re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(".*".join(parts), subject, re.DOTALL) is not None
