"""HCL2 job specs -> Nomad's JSON `api.Job`, for `POST /v1/jobs/parse` (the subset our specs use).

Supported: `variable` blocks with defaults, overrides from var-file text (the API's `Variables`),
`${var.x}` interpolation (whole-value keeps the type; inside a string it is formatted), runtime
references such as `${attr.x}`, `${node.x}` or `${NOMAD_TASK_DIR}` kept as text for the client (as
jobspec2's `UndefinedVariable` does), heredocs (with their final newline, as HCL keeps it), `$${`
escapes, and the job/group/task blocks listed in the tables below. Anything else in a known block
is an error, so a spec never loads half-understood.
https://developer.hashicorp.com/nomad/docs/job-specification
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from hcl2.parser import hcl2 as _grammar
from hcl2.transformer import (
    HEREDOC_PATTERN,
    HEREDOC_TRIM_PATTERN,
    DictTransformer,
)

from simulator.nomad.jobspec import duration_ns


class _Transformer(DictTransformer):
    """python-hcl2's transformer, but a heredoc keeps its last newline as HCL's does."""

    def heredoc_template(self, args: list[Any]) -> str:
        match = HEREDOC_PATTERN.match(str(args[0]))
        if not match:
            raise JobSpecError(f"Invalid heredoc: {args[0]}")
        return f'"{_heredoc_lines(match.group(2))}"'

    def heredoc_template_trim(self, args: list[Any]) -> str:
        match = HEREDOC_TRIM_PATTERN.match(str(args[0]))
        if not match:
            raise JobSpecError(f"Invalid heredoc: {args[0]}")
        lines = _heredoc_lines(match.group(2)).split("\n")
        indent = min(
            (len(line) - len(line.lstrip(" ")) for line in lines if line.strip()), default=0
        )
        trimmed = "\n".join(line[indent:] for line in lines)
        return f'"{trimmed}"'


def _heredoc_lines(body: str) -> str:
    """The heredoc's lines up to the closing marker's line, each with its newline."""
    return body[: body.rfind("\n") + 1]


def _loads(text: str) -> dict[str, Any]:
    """hcl2.loads with the heredoc fix."""
    tree = _grammar.parse(text + "\n")  # python-hcl2's own workaround for a final newline
    result: dict[str, Any] = _Transformer(with_meta=False).transform(tree)
    return result


class JobSpecError(ValueError):
    """The spec cannot be parsed or uses HCL this emulator does not support."""


_WHOLE_VAR = re.compile(r"^\$\{var\.([A-Za-z_][\w-]*)\}$")
_INNER_VAR = re.compile(r"(?<!\$)\$\{var\.([A-Za-z_][\w-]*)\}")
# Any other `${...}`: a plain reference (attr.x, node.unique.id, NOMAD_TASK_DIR) stays as text for
# the client to interpolate; an expression (a function call, arithmetic) is not supported.
_ANY_EXPR = re.compile(r"(?<!\$)\$\{(?!var\.)(?![A-Za-z_][\w-]*(?:\.[\w-]+)*\})")

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


def _each(convert: Converter) -> Converter:
    """Repeated unlabelled blocks (`template { }` twice) -> a list of converted blocks."""

    def each(value: Any) -> list[Any]:
        return [convert(item) for item in (value if isinstance(value, list) else [value])]

    return each


def _octal(value: Any) -> str:
    text = str(value)
    int(text, 8)  # structs.Template.Validate: "Failed to parse ... as octal"
    return text


# https://developer.hashicorp.com/nomad/docs/job-specification/template (api.Template)
_TEMPLATE = _table(
    {
        "data": ("EmbeddedTmpl", str),
        "destination": ("DestPath", str),
        "source": ("SourcePath", str),
        "env": ("Envvars", bool),
        "perms": ("Perms", _octal),
        "uid": ("Uid", int),
        "gid": ("Gid", int),
        "change_mode": ("ChangeMode", str),
        "change_signal": ("ChangeSignal", str),
        "splay": ("Splay", duration_ns),
        "once": ("Once", bool),
        "left_delimiter": ("LeftDelim", str),
        "right_delimiter": ("RightDelim", str),
        "error_on_missing_key": ("ErrMissingKey", bool),
    }
)
# https://developer.hashicorp.com/nomad/docs/job-specification/identity (api.WorkloadIdentity)
_IDENTITY = _table(
    {
        "name": ("Name", str),
        "aud": ("Audience", list),
        "env": ("Env", bool),
        "file": ("File", bool),
        "filepath": ("Filepath", str),
        "ttl": ("TTL", duration_ns),
        "change_mode": ("ChangeMode", str),
        "change_signal": ("ChangeSignal", str),
    }
)
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
        "shutdown_delay": ("ShutdownDelay", duration_ns),
        "leader": ("Leader", bool),
        "resources": ("Resources", _RESOURCES),
        "restart": ("RestartPolicy", _RESTART),
        "template": ("Templates", _each(_TEMPLATE)),
        "identity": ("Identities", _each(_IDENTITY)),
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


def _network(value: Any) -> dict[str, Any]:
    """`network { mode, port "label" { to, static } }`: static ports are reserved ones."""
    body = _block(value)
    unknown = set(body) - {"mode", "port"}
    if unknown:
        raise JobSpecError(f"unsupported argument or block {sorted(unknown)[0]!r}")
    ports = _named(_table({"to": ("To", int), "static": ("Value", int)}), "Label")(
        body.get("port", [])
    )
    return {
        "Mode": str(body.get("mode", "")),
        "DynamicPorts": [{"Value": 0, **p} for p in ports if "Value" not in p],
        "ReservedPorts": [p for p in ports if "Value" in p],
    }


_UPDATE = _table(
    {
        "max_parallel": ("MaxParallel", int),
        "health_check": ("HealthCheck", str),
        "min_healthy_time": ("MinHealthyTime", duration_ns),
        "healthy_deadline": ("HealthyDeadline", duration_ns),
        "progress_deadline": ("ProgressDeadline", duration_ns),
        "auto_revert": ("AutoRevert", bool),
        "auto_promote": ("AutoPromote", bool),
        "canary": ("Canary", int),
    }
)
_CHECK = _table(
    {
        "name": ("Name", str),
        "type": ("Type", str),
        "path": ("Path", str),
        "port": ("PortLabel", str),
        "method": ("Method", str),
        "interval": ("Interval", duration_ns),
        "timeout": ("Timeout", duration_ns),
        "check_restart": (
            "CheckRestart",
            _table({"limit": ("Limit", int), "grace": ("Grace", duration_ns)}),
        ),
    }
)
_SERVICE = _table(
    {
        "name": ("Name", str),
        "port": ("PortLabel", str),
        "provider": ("Provider", str),
        "tags": ("Tags", list),
        "check": ("Checks", _each(_CHECK)),
    }
)
# Group blocks the emulator stores but does not act on (one node, no services, no deployments).
_GROUP = _table(
    {
        "count": ("Count", int),
        "meta": ("Meta", _string_map),
        "restart": ("RestartPolicy", _RESTART),
        "reschedule": ("ReschedulePolicy", _RESCHEDULE),
        "task": ("Tasks", _named(_TASK)),
        "spread": ("Spreads", _each(_table({"attribute": ("Attribute", str)}))),
        "network": ("Networks", _each(_network)),
        "update": ("Update", _UPDATE),
        "service": ("Services", _each(_SERVICE)),
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
