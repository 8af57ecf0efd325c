"""HCL2 job specs -> Nomad's JSON `api.Job`, for `POST /v1/jobs/parse` (the subset our specs use).

Supported: `variable` blocks with defaults, overrides from var-file text (the API's `Variables`),
`${var.x}` interpolation (whole-value keeps the type; inside a string it is formatted), heredocs,
`$${...}` escapes, and the job/group/task blocks listed in the tables below. Anything else in a
known block is an error, so a spec never loads half-understood.
https://developer.hashicorp.com/nomad/docs/job-specification
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import hcl2

from simulator.nomad.jobspec import duration_ns

_loads: Callable[[str], dict[str, Any]] = hcl2.loads  # type: ignore[attr-defined]


class JobSpecError(ValueError):
    """The spec cannot be parsed or uses HCL this emulator does not support."""


_WHOLE_VAR = re.compile(r"^\$\{var\.([A-Za-z_][\w-]*)\}$")
_INNER_VAR = re.compile(r"(?<!\$)\$\{var\.([A-Za-z_][\w-]*)\}")
_ANY_EXPR = re.compile(r"(?<!\$)\$\{(?!var\.)")

Converter = Callable[[Any], Any]


def _same(value: Any) -> Any:
    return value


def _block(value: Any) -> dict[str, Any]:
    """hcl2 renders a block as a one-element list of dicts."""
    if isinstance(value, list):
        merged: dict[str, Any] = {}
        for item in value:
            merged.update(item)
        return merged
    if isinstance(value, dict):
        return value
    raise JobSpecError(f"expected a block, got {value!r}")


def _string_map(value: Any) -> dict[str, str]:
    return {str(k): _to_str(v) for k, v in _block(value).items()}


def _to_str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _table(fields: Mapping[str, tuple[str, Converter]]) -> Converter:
    def convert(value: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, item in _block(value).items():
            if key not in fields:
                raise JobSpecError(f"unsupported argument or block {key!r}")
            name, conv = fields[key]
            out[name] = conv(item)
        return out

    return convert


_PARAMETERIZED = _table(
    {
        "payload": ("Payload", str),
        "meta_required": ("MetaRequired", list),
        "meta_optional": ("MetaOptional", list),
    }
)
_RESTART = _table(
    {
        "attempts": ("Attempts", int),
        "interval": ("Interval", duration_ns),
        "delay": ("Delay", duration_ns),
        "mode": ("Mode", str),
        "render_templates": ("RenderTemplates", bool),
    }
)
_RESCHEDULE = _table(
    {
        "attempts": ("Attempts", int),
        "interval": ("Interval", duration_ns),
        "delay": ("Delay", duration_ns),
        "delay_function": ("DelayFunction", str),
        "max_delay": ("MaxDelay", duration_ns),
        "unlimited": ("Unlimited", bool),
    }
)
_RESOURCES = _table({"cpu": ("CPU", int), "memory": ("MemoryMB", int), "cores": ("Cores", int)})
_TASK = _table(
    {
        "driver": ("Driver", str),
        "user": ("User", str),
        "config": ("Config", _block),
        "env": ("Env", _string_map),
        "meta": ("Meta", _string_map),
        "dispatch_payload": ("DispatchPayload", _table({"file": ("File", str)})),
        "kill_timeout": ("KillTimeout", duration_ns),
        "kill_signal": ("KillSignal", str),
        "leader": ("Leader", bool),
        "resources": ("Resources", _RESOURCES),
        "restart": ("RestartPolicy", _RESTART),
    }
)


def _named(convert: Converter, key: str = "Name") -> Converter:
    """A list of labelled blocks (`task "x" { ... }`) -> a list of dicts with `Name`."""

    def named(value: Any) -> list[dict[str, Any]]:
        items = value if isinstance(value, list) else [value]
        out = []
        for item in items:
            for label, body in item.items():
                out.append({key: label, **convert(body)})
        return out

    return named


_GROUP = _table(
    {
        "count": ("Count", int),
        "meta": ("Meta", _string_map),
        "restart": ("RestartPolicy", _RESTART),
        "reschedule": ("ReschedulePolicy", _RESCHEDULE),
        "task": ("Tasks", _named(_TASK)),
    }
)
_JOB = _table(
    {
        "type": ("Type", str),
        "region": ("Region", str),
        "namespace": ("Namespace", str),
        "node_pool": ("NodePool", str),
        "datacenters": ("Datacenters", list),
        "priority": ("Priority", int),
        "all_at_once": ("AllAtOnce", bool),
        "meta": ("Meta", _string_map),
        "parameterized": ("ParameterizedJob", _PARAMETERIZED),
        "group": ("TaskGroups", _named(_GROUP)),
    }
)


def _interpolate(value: Any, variables: Mapping[str, Any]) -> Any:
    """Resolve `${var.x}` recursively; other `${...}` expressions are not supported."""
    if isinstance(value, list):
        return [_interpolate(v, variables) for v in value]
    if isinstance(value, dict):
        return {k: _interpolate(v, variables) for k, v in value.items()}
    if not isinstance(value, str):
        return value

    def lookup(name: str) -> Any:
        if name not in variables:
            raise JobSpecError(f'Reference to undeclared input variable "{name}"')
        return variables[name]

    whole = _WHOLE_VAR.match(value)
    if whole:
        return lookup(whole.group(1))
    if _ANY_EXPR.search(value):
        raise JobSpecError(f"unsupported expression in {value!r}")
    text = _INNER_VAR.sub(lambda m: _to_str(lookup(m.group(1))), value)
    return text.replace("$${", "${")


def _literal(value: Any) -> Any:
    """A variable's value as HCL evaluates it: `$${` in its strings is a literal `${`."""
    if isinstance(value, list):
        return [_literal(v) for v in value]
    if isinstance(value, dict):
        return {k: _literal(v) for k, v in value.items()}
    return value.replace("$${", "${") if isinstance(value, str) else value


def _variables(spec: dict[str, Any], overrides_text: str) -> dict[str, Any]:
    declared: dict[str, Any] = {}
    for block in spec.get("variable", []):
        for name, body in block.items():
            declared[name] = _literal(body.get("default"))
    try:
        overrides = _loads(overrides_text) if overrides_text.strip() else {}
    except Exception as exc:  # hcl2 raises lark errors of many types
        raise JobSpecError(f"invalid variables: {exc}") from exc
    for name, value in overrides.items():
        if name not in declared:
            raise JobSpecError(f'Undefined variable: a variable named "{name}" was assigned')
        declared[name] = _literal(value)
    missing = sorted(k for k, v in declared.items() if v is None)
    if missing:
        raise JobSpecError(f'Unset variable "{missing[0]}"')
    return declared


def parse_job(job_hcl: str, variables: str = "") -> dict[str, Any]:
    """Parse one `job` block, as `POST /v1/jobs/parse` does, into `api.Job` JSON."""
    try:
        spec = _loads(job_hcl)
    except Exception as exc:  # hcl2 raises lark errors of many types
        raise JobSpecError(str(exc).splitlines()[0]) from exc
    values = _variables(spec, variables)
    jobs = spec.get("job", [])
    if len(jobs) != 1 or len(jobs[0]) != 1:
        raise JobSpecError("expected exactly one job block")
    (name, body), *_ = jobs[0].items()
    job: dict[str, Any] = _JOB(_interpolate(body, values))
    return {"ID": name, "Name": name, **job}
