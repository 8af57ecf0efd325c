"""Nomad Variables: `Variables.Apply/Read/List` (nomad/variables_endpoint.go) over a dict.

Rules kept from Nomad: the path check (`structs.validatePath`) and the 64 KiB limit on items
(both 500s, as Nomad's uncoded errors are), check-and-set with `?cas=` (0 = create only; a
conflict returns the current variable, its items only to a caller who may read it), delete of a
missing variable succeeds, and every check against the caller's ACL (write / destroy / read /
list; a workload reads its own job's paths).
"""

from __future__ import annotations

import copy
import re
import threading
from collections.abc import Callable, Mapping
from typing import Any

from simulator.nomad.acl import Caller
from simulator.nomad.errors import PermissionDenied, ServerError, VariableConflict
from simulator.nomad.watch import locked

MAX_VARIABLE_SIZE = 65536  # structs/variables.go maxVariableSize, keys + values in bytes
_VALID_PATH = re.compile(r"^[a-zA-Z0-9\-_~/]{1,128}$")  # structs/variables.go validVariablePath


def validate_path(path: str) -> None:
    """`structs.validatePath`, messages verbatim: plain Go errors, so 500s over HTTP."""
    if not path:
        raise ServerError("variable requires path")
    if not _VALID_PATH.match(path):
        raise ServerError(f'invalid path "{path}"')
    parts = path.split("/")
    if parts[0] != "nomad":
        return
    if len(parts) == 1:
        raise ServerError(
            '"nomad" is a reserved top-level directory path, but you may write variables to '
            '"nomad/jobs", "nomad/job-templates", "nomad/sentinel", or below'
        )
    if parts[1] in ("jobs", "sentinel") or (parts[1] == "job-templates" and len(parts) == 3):
        return
    if parts[1] == "job-templates":
        raise ServerError(
            '"nomad/job-templates" is a reserved directory path, but you may write variables at '
            'the level below it, for example, "nomad/job-templates/template-name"'
        )
    raise ServerError(
        'only paths at "nomad/jobs" or "nomad/job-templates" and below are valid paths under '
        'the top-level "nomad" directory'
    )


def metadata(variable: Mapping[str, Any]) -> dict[str, Any]:
    """`VariableMetadata` (what a list returns): everything but the items."""
    return {k: v for k, v in variable.items() if k != "Items"}


class VariableStore:
    """Variables keyed by (namespace, path); `bump` advances the shared Raft index."""

    def __init__(
        self,
        *,
        lock: threading.RLock,
        bump: Callable[[], int],
        now_ns: Callable[[], int],
        on_change: Callable[[int], None] = lambda index: None,
    ) -> None:
        self.lock = lock
        self._bump = bump
        self._now_ns = now_ns
        self._on_change = on_change  # a write may unblock a task waiting on its template
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self.index = 1  # the variables table index

    @locked
    def upsert(
        self,
        namespace: str,
        path: str,
        items: Mapping[str, str],
        *,
        cas: int | None,
        caller: Caller,
    ) -> tuple[dict[str, Any], int]:
        """`VarOpSet` / `VarOpCAS`: the stored variable and the write index, or 409."""
        if not caller.may(namespace, path, "write"):
            raise PermissionDenied()
        # `VariableDecrypted.Validate` (nomad/structs/variables.go), in its order; its plain
        # errors come back from `Variables.Apply` uncoded: errCodeFromHandler makes them 500s.
        if namespace == "*":
            raise ServerError('can not target wildcard ("*")namespace')
        if sum(len(k.encode()) + len(v.encode()) for k, v in items.items()) > MAX_VARIABLE_SIZE:
            raise ServerError("variables are limited to 64KiB in total size")
        validate_path(path)
        key = (namespace, path)
        existing = self.items.get(key)
        if cas is not None:
            current = existing or _zero(namespace, path)
            if (existing is not None and cas != existing["ModifyIndex"]) or (
                existing is None and cas != 0
            ):
                raise VariableConflict(self._visible(current, caller))
        index = self._bump()
        now = self._now_ns()
        variable = {
            "Namespace": namespace,
            "Path": path,
            "CreateIndex": existing["CreateIndex"] if existing else index,
            "CreateTime": existing["CreateTime"] if existing else now,
            "ModifyIndex": index,
            "ModifyTime": now,
            "Items": dict(items),
        }
        self.items[key] = variable
        self.index = index
        self._on_change(index)
        return copy.deepcopy(variable), index

    @locked
    def delete(self, namespace: str, path: str, *, cas: int | None, caller: Caller) -> int:
        """`VarOpDelete` / `VarOpDeleteCAS`: deleting what is not there succeeds."""
        if not caller.may(namespace, path, "destroy"):
            raise PermissionDenied()
        key = (namespace, path)
        existing = self.items.get(key)
        if cas is not None and (
            (existing is None and cas != 0)
            or (existing is not None and cas != existing["ModifyIndex"])
        ):
            raise VariableConflict(self._visible(existing or _zero(namespace, path), caller))
        index = self._bump()
        if existing is not None:
            del self.items[key]
            self.index = index
        return index

    @locked
    def read(self, namespace: str, path: str, caller: Caller) -> dict[str, Any] | None:
        """`Variables.Read`: the variable, None when missing, 403 without `read`."""
        if not caller.may(namespace, path, "read"):
            raise PermissionDenied()
        variable = self.items.get((namespace, path))
        return copy.deepcopy(variable) if variable else None

    @locked
    def list(self, namespace: str, prefix: str, caller: Caller) -> list[dict[str, Any]]:
        """`Variables.List`: metadata of the paths under `prefix` the caller may `list`."""
        return [
            metadata(v)
            for (ns, path), v in sorted(self.items.items())
            if namespace in ("*", ns) and path.startswith(prefix) and caller.may(ns, path, "list")
        ]

    def _visible(self, current: Mapping[str, Any], caller: Caller) -> dict[str, Any]:
        """A conflict shows the items only to a caller who may read them (conflict-redacted)."""
        if "Items" in current and caller.may(current["Namespace"], current["Path"], "read"):
            return copy.deepcopy(dict(current))
        return metadata(current)


def _zero(namespace: str, path: str) -> dict[str, Any]:
    """The 'plausible zero value' Nomad returns as the conflict for a missing variable."""
    return {
        "Namespace": namespace,
        "Path": path,
        "CreateIndex": 0,
        "CreateTime": 0,
        "ModifyIndex": 0,
        "ModifyTime": 0,
    }
