"""The task `template` hook (client/allocrunner/taskrunner/template/template.go), emulated.

Before a task starts, every template is rendered with the consul-template functions our specs use
(`nomadVar`, `env`, `toJSON`, `printf` and Go's built-ins), as the task's workload identity: a
variable it may not read, or one that does not exist, blocks the task (`Missing: ...`) until a
write or a new policy makes it readable. Files are written with `perms` (and `uid`/`gid` when the
emulator runs as root); `env = true` files are parsed like go-envparse v0.1.0 and set the task's
environment, over its `env` block.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from simulator.nomad.acl import Caller, Claim
from simulator.nomad.envparse import EnvParseError, parse_env
from simulator.nomad.errors import PermissionDenied
from simulator.nomad.gotemplate import Template, TemplateError, truth

MISSING_DEP_EVENT_LIMIT = 3  # template.go missingDepEventLimit
_NV_QUERY = re.compile(r"^(?P<path>[^@]+?)(?:@(?P<namespace>[^.]+)(?:\.(?P<region>.+))?)?$")


class TemplateFailed(Exception):
    """A template that can never render; Nomad kills the task with this message."""


@dataclass(frozen=True)
class WorkloadApi:
    """What a task's workload identity reaches: its ACL, variable reads, its signed token."""

    caller: Callable[[Claim], Caller]
    read: Callable[[str, str, Caller], dict[str, Any] | None]
    token: Callable[[Claim, str], str]


@dataclass
class Rendered:
    """The result of a render: env from `env = true` templates, or what is still missing."""

    env: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)


def missing_message(missing: list[str]) -> str:
    """The `Template` task event text while data is missing (template.go handleFirstRender)."""
    names = sorted(missing)
    if len(names) > MISSING_DEP_EVENT_LIMIT:
        more = len(names) - MISSING_DEP_EVENT_LIMIT
        names = [*names[:MISSING_DEP_EVENT_LIMIT], f"and {more} more"]
    return "Missing: " + ", ".join(names)


class VarItem(str):
    """consul-template's NomadVarItem: prints as its value; toJSON gives Go's `%q` of it."""


class VarItems(dict[str, VarItem]):
    """consul-template's NomadVarItems: the items of one variable, with its helper methods."""

    zero = VarItem("")  # a missing key renders as the zero NomadVarItem: ""

    def Keys(self) -> list[str]:
        """Sorted keys."""
        return sorted(self)

    def Values(self) -> list[str]:
        """Values in key order."""
        return [str(self[k]) for k in sorted(self)]

    def Tuples(self) -> list[KeyValue]:
        """`{K, V}` pairs in key order; `V` is a plain string."""
        return [KeyValue(k, str(self[k])) for k in sorted(self)]


@dataclass(frozen=True)
class KeyValue:
    """One element of `.Tuples`."""

    K: str
    V: str


def go_json(value: Any) -> str:
    """encoding/json.Marshal: HTML-safe escapes (`<`, `>`, `&`, U+2028/9), no spaces."""
    if isinstance(value, VarItem):
        return go_quote(str(value))  # NomadVarItem.MarshalJSON is fmt's %q
    if isinstance(value, KeyValue):
        value = {"K": value.K, "V": value.V}
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escape)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def go_quote(text: str) -> str:
    """strconv.Quote for the cases that matter: C escapes, `\\xNN` for other control bytes."""
    out = []
    for char in text:
        short = {'"': '\\"', "\\": "\\\\", "\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n"}
        short.update({"\r": "\\r", "\t": "\\t", "\v": "\\v"})
        if char in short:
            out.append(short[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _printf(fmt: str, *args: Any) -> str:
    """fmt.Sprintf for %s, %d, %v and %q."""
    values = iter(args)

    def one(match: re.Match[str]) -> str:
        verb = match.group(1)
        if verb == "%":
            return "%"
        value = next(values, None)
        return go_quote(str(value)) if verb == "q" else str(value)

    return re.sub(r"%([sdvq%])", one, fmt)


def _eq(first: Any, *others: Any) -> bool:
    """Go's `eq arg1 arg2 ...`: arg1 equals any of the others."""
    if not others:
        raise TemplateError("missing argument for comparison")
    return any(first == other for other in others)


BUILTINS: Mapping[str, Callable[..., Any]] = {
    "eq": _eq,
    "ne": lambda a, b: a != b,
    "not": lambda a: not truth(a),
    "and": lambda *a: next((x for x in a if not truth(x)), a[-1]),
    "or": lambda *a: next((x for x in a if truth(x)), a[-1]),
    "len": len,
    "index": lambda value, *keys: _index(value, keys),
    "printf": _printf,
    "print": lambda *a: "".join(str(x) for x in a),
    "toJSON": go_json,
    "toLower": lambda s: str(s).lower(),
    "toUpper": lambda s: str(s).upper(),
    "trimSpace": lambda s: str(s).strip(),
}


def _index(value: Any, keys: tuple[Any, ...]) -> Any:
    for key in keys:
        value = value.get(key) if isinstance(value, Mapping) else value[key]
    return value


def render_templates(
    templates: list[dict[str, Any]],
    *,
    env: Mapping[str, str],
    task_dir: str,
    alloc_dir: str,
    claim: Claim,
    source: WorkloadApi,
) -> Rendered:
    """Render all of a task's templates, or report what they still wait for (writes nothing)."""
    caller = source.caller(claim)
    missing: set[str] = set()

    def lookup(query: str, kind: str) -> dict[str, Any] | None:
        """One variable dependency (consul-template NVGetQuery); `None` leaves it missing."""
        match = _NV_QUERY.match(query.strip().strip("/"))
        if match is None:
            raise TemplateError(f"nomad.var.get: invalid format: {query!r}")
        path, namespace = match.group("path"), match.group("namespace") or claim.namespace
        name = f"nomad.var.{kind}({path}@{namespace}.{match.group('region') or 'global'})"
        try:
            variable = source.read(namespace, path, caller)
        except PermissionDenied:  # Nomad retries a 403 with backoff; it stays missing meanwhile
            missing.add(name)
            return None
        if variable is None and kind == "block":
            missing.add(name)
        return variable

    def nomad_var(query: str) -> VarItems:
        """`nomadVar`: blocks (stays missing) until the variable exists."""
        variable = lookup(query, "block")
        items = variable["Items"] if variable else {}
        return VarItems({k: VarItem(v) for k, v in items.items()})

    def nomad_var_exists(query: str) -> bool:
        """`nomadVarExists`: does not block; false for a variable that is not there."""
        return lookup(query, "get") is not None

    funcs = {
        **BUILTINS,
        "nomadVar": nomad_var,
        "nomadVarExists": nomad_var_exists,
        "env": lambda key: env.get(str(key), ""),
    }
    outputs: list[tuple[dict[str, Any], str, str]] = []
    for template in templates:
        destination = _destination(template, task_dir, alloc_dir)
        try:
            text = Template(str(template.get("EmbeddedTmpl") or ""), funcs).execute(None)
        except TemplateError as exc:
            raise TemplateFailed(f"Template failed: {exc}") from exc
        outputs.append((template, destination, text))
    if missing:
        return Rendered(missing=sorted(missing))
    rendered = Rendered()
    for template, destination, text in outputs:
        _write(destination, text, template)
        if template.get("Envvars"):
            try:
                rendered.env.update(parse_env(text))
            except EnvParseError as exc:
                raise TemplateFailed(
                    "Template failed to read environment variables: "
                    f'error parsing env template "{destination}": {exc}'
                ) from exc
    return rendered


def _destination(template: Mapping[str, Any], task_dir: str, alloc_dir: str) -> str:
    """`taskEnv.ClientPath(dest, true)`: under the task dir, never outside the allocation."""
    if template.get("SourcePath"):
        raise TemplateFailed("Template failed: `source` templates are not emulated")
    if template.get("LeftDelim", "{{") != "{{" or template.get("RightDelim", "}}") != "}}":
        raise TemplateFailed("Template failed: custom delimiters are not emulated")
    target = os.path.normpath(os.path.join(task_dir, str(template.get("DestPath") or "")))
    if not target.startswith(os.path.dirname(alloc_dir) + os.sep):
        raise TemplateFailed("Template failed: template destination path escapes alloc directory")
    return target


def _write(path: str, text: str, template: Mapping[str, Any]) -> None:
    """Write with the template's `perms`; `uid`/`gid` need root, as on a Nomad client."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    mode = int(str(template.get("Perms") or "0644"), 8)
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode), "w") as handle:
        handle.write(text)
    os.chmod(path, mode)
    uid, gid = template.get("Uid"), template.get("Gid")
    if os.geteuid() == 0 and (uid is not None or gid is not None):
        os.chown(path, -1 if uid is None else int(uid), -1 if gid is None else int(gid))
