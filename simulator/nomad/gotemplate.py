"""A subset of Go's text/template, enough for the Nomad `template` blocks this project uses.

Supported: text, `{{ }}` actions with `{{-`/`-}}` trimming and `{{/* comments */}}`, `if`/`else
if`/`else`, `with`/`else`, `range`/`else` (lists; maps in key order), `end`, pipelines with `|`,
parenthesized sub-pipelines, string/raw/number/bool literals, `.` and field chains (`.A.b`: a
method or attribute first, then a map key, as Go resolves them), and functions from a table.
Anything else (variables, `define`, `block`, `template`) is a `TemplateError`, never ignored.
https://pkg.go.dev/text/template
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

Func = Callable[..., Any]


class TemplateError(ValueError):
    """The template cannot be parsed or executed (Go: `template: <name>:<line>: ...`)."""


_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.DOTALL)
_TOKEN = re.compile(
    r"""\s*(?:(?P<str>"(?:[^"\\\n]|\\.)*")|(?P<raw>`[^`]*`)|(?P<num>-?\d+(?:\.\d+)?)"""
    r"""|(?P<field>(?:\.[A-Za-z_]\w*)+|\.)|(?P<ident>[A-Za-z_]\w*)|(?P<punct>[()|]))"""
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "a": "\a", "b": "\b"}
_ESCAPES.update({"f": "\f", "v": "\v", "0": "\0"})


@dataclass
class Node:
    """A parsed action or text piece; blocks keep their bodies in `then`/`other`."""

    kind: str  # text | print | if | with | range
    pipe: list[Any] = field(default_factory=list)
    text: str = ""
    then: list[Node] = field(default_factory=list)
    other: list[Node] = field(default_factory=list)


def _unquote(token: str) -> str:
    if token.startswith("`"):
        return token[1:-1]
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), token[1:-1])


def _parse_pipe(source: str, line: int) -> list[Any]:
    """`a .b "c" | f (g .h)` -> commands: lists of operands, each a (kind, value) pair."""
    pos = 0
    stack: list[list[list[Any]]] = [[[]]]
    source = source.strip()
    while pos < len(source):
        match = _TOKEN.match(source, pos)
        if not match or match.end() == pos:
            raise TemplateError(f"template: :{line}: unexpected {source[pos:]!r} in command")
        pos = match.end()
        kind = match.lastgroup or ""
        value = match.group(kind)
        commands = stack[-1]
        if kind == "punct" and value == "|":
            commands.append([])
        elif kind == "punct" and value == "(":
            stack.append([[]])
        elif kind == "punct":
            if len(stack) == 1:
                raise TemplateError(f"template: :{line}: unexpected right paren")
            inner = stack.pop()
            stack[-1][-1].append(("pipe", inner))
        elif kind in ("str", "raw"):
            commands[-1].append(("value", _unquote(value)))
        elif kind == "num":
            commands[-1].append(("value", float(value) if "." in value else int(value)))
        elif kind == "ident" and value in ("true", "false", "nil"):
            commands[-1].append(("value", {"true": True, "false": False, "nil": None}[value]))
        else:
            commands[-1].append((kind, value))
    if len(stack) != 1:
        raise TemplateError(f"template: :{line}: unclosed left paren")
    if any(not command for command in stack[0]):
        raise TemplateError(f"template: :{line}: missing value for command")
    return stack[0]


def parse(source: str, funcs: Mapping[str, Func]) -> list[Node]:
    """Parse `source`; unknown functions fail here, as `template.Parse` does."""
    root: list[Node] = []
    # (block, list being filled, opened by `else if`/`else with`: closed by the same `end`)
    stack: list[tuple[Node | None, list[Node], bool]] = [(None, root, False)]
    pos = 0
    for match in _ACTION.finditer(source):
        text = source[pos : match.start()]
        if match.group(1):
            text = text.rstrip(" \t\r\n")
        if text:
            stack[-1][1].append(Node("text", text=text))
        pos = match.end()
        if match.group(3):
            rest = source[pos:]
            pos += len(rest) - len(rest.lstrip(" \t\r\n"))
        line = source.count("\n", 0, match.start()) + 1
        body = match.group(2).strip()
        if body.startswith("/*"):
            continue
        word, _, rest = body.partition(" ")
        block = stack[-1][0]
        if word in ("if", "with", "range"):
            node = Node(word, pipe=_checked(_parse_pipe(rest, line), funcs, line))
            stack[-1][1].append(node)
            stack.append((node, node.then, False))
        elif word == "else":
            if block is None or stack[-1][1] is block.other:
                raise TemplateError(f"template: :{line}: unexpected {{{{else}}}}")
            stack[-1] = (block, block.other, stack[-1][2])
            inner, _, cond = rest.strip().partition(" ")
            if inner in ("if", "with"):  # `else if x` = `else` + a nested `if x` closed by `end`
                nested = Node(inner, pipe=_checked(_parse_pipe(cond, line), funcs, line))
                block.other.append(nested)
                stack.append((nested, nested.then, True))
        elif word == "end":
            if block is None:
                raise TemplateError(f"template: :{line}: unexpected {{{{end}}}}")
            while stack.pop()[2]:
                pass
        elif word in ("define", "block", "template", "break", "continue") or body.startswith("$"):
            raise TemplateError(f"template: :{line}: {word!r} is not supported by the emulator")
        else:
            stack[-1][1].append(Node("print", pipe=_checked(_parse_pipe(body, line), funcs, line)))
    if len(stack) != 1:
        raise TemplateError("template: :unexpected EOF")
    tail = source[pos:]
    if tail:
        root.append(Node("text", text=tail))
    return root


def _checked(pipe: list[Any], funcs: Mapping[str, Func], line: int) -> list[Any]:
    for command in pipe:
        for kind, value in command:
            if kind == "ident" and value not in funcs:
                raise TemplateError(f'template: :{line}: function "{value}" not defined')
            if kind == "pipe":
                _checked(value, funcs, line)
    return pipe


def truth(value: Any) -> bool:
    """Go's `IsTrue`: false, 0, nil and empty strings, lists and maps are false."""
    if value is None or value is False:
        return False
    if isinstance(value, int | float | str | list | tuple | dict):
        return bool(value)
    return True


_BUILTIN_MODULES = ("builtins", "_collections_abc", "collections.abc", "typing")


def field_of(value: Any, name: str) -> Any:
    """`.name`: a map's own method (Go methods on a named map type) or key, else an attribute.

    A missing map key is the map's `zero` (Go's `missingkey=zero`, consul-template's default).
    """
    if isinstance(value, Mapping):
        own = (vars(cls) for cls in type(value).__mro__ if cls.__module__ not in _BUILTIN_MODULES)
        if not name.startswith("_") and any(callable(names.get(name)) for names in own):
            return getattr(value, name)()
        return value.get(name, getattr(value, "zero", None))
    if name.startswith("_") or not hasattr(value, name):
        raise TemplateError(f"can't evaluate field {name} in type {type(value).__name__}")
    got = getattr(value, name)
    return got() if callable(got) else got


def text_of(value: Any) -> str:
    """How `{{ x }}` prints a value (fmt's %v)."""
    if value is None:
        return "<no value>"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Template:
    """A parsed template, executed against data with a function table."""

    def __init__(self, source: str, funcs: Mapping[str, Func]) -> None:
        self.funcs = dict(funcs)
        self.nodes = parse(source, self.funcs)

    def execute(self, data: Any) -> str:
        """Render with `.` = `data`."""
        out: list[str] = []
        self._run(self.nodes, data, out)
        return "".join(out)

    def _run(self, nodes: list[Node], dot: Any, out: list[str]) -> None:
        for node in nodes:
            if node.kind == "text":
                out.append(node.text)
            elif node.kind == "print":
                out.append(text_of(self._pipe(node.pipe, dot)))
            else:
                value = self._pipe(node.pipe, dot)
                if node.kind == "range" and truth(value):
                    items = (
                        [value[k] for k in sorted(value)] if isinstance(value, Mapping) else value
                    )
                    for item in items:
                        self._run(node.then, item, out)
                elif node.kind != "range" and truth(value):
                    self._run(node.then, value if node.kind == "with" else dot, out)
                else:
                    self._run(node.other, dot, out)

    def _pipe(self, pipe: list[Any], dot: Any) -> Any:
        result: Any = _NOTHING
        for command in pipe:
            result = self._command(command, dot, result)
        return result

    def _command(self, command: list[Any], dot: Any, piped: Any) -> Any:
        kind, value = command[0]
        args = [self._operand(operand, dot) for operand in command[1:]]
        if piped is not _NOTHING:
            args.append(piped)
        if kind == "ident":
            try:
                return self.funcs[value](*args)
            except TemplateError:
                raise
            except (TypeError, ValueError, KeyError) as exc:
                raise TemplateError(f"error calling {value}: {exc}") from exc
        if args:
            raise TemplateError(f"can't give argument to non-function {value}")
        return self._operand(command[0], dot)

    def _operand(self, operand: tuple[str, Any], dot: Any) -> Any:
        kind, value = operand
        if kind == "value":
            return value
        if kind == "pipe":
            return self._pipe(value, dot)
        if kind == "ident":
            return self.funcs[value]()
        result = dot
        for name in value.split(".")[1:]:
            if name:
                result = field_of(result, name)
        return result


_NOTHING = object()
