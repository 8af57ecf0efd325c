"""A tiny subset of go-bexpr for `?filter=`: `Field == "v"`, `!=`, `and`, `or`, parentheses.

Fields are top-level keys of the object being filtered (e.g. `ParentID`, `Status`, `Type`).
https://developer.hashicorp.com/nomad/api-docs#filtering
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Predicate = Callable[[Mapping[str, Any]], bool]

_TOKEN = re.compile(
    r'\s*(?:(?P<lp>\()|(?P<rp>\))|(?P<op>==|!=)|(?P<str>"(?:[^"\\]|\\.)*")'
    r"|(?P<word>[A-Za-z_][\w.]*))"
)


class FilterError(ValueError):
    """The expression is outside the supported subset or malformed."""


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise FilterError(f"failed to parse filter at position {pos}: {text[pos:]!r}")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        pos = match.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


def compile_filter(text: str) -> Predicate:
    """Compile an expression into a predicate over a JSON object."""
    tokens = _tokens(text)
    pos = 0

    def peek() -> tuple[str, str] | None:
        return tokens[pos] if pos < len(tokens) else None

    def take(kind: str) -> str:
        nonlocal pos
        token = peek()
        if token is None or token[0] != kind:
            raise FilterError(f"failed to parse filter: expected {kind} near {token}")
        pos += 1
        return token[1]

    def keyword(word: str) -> bool:
        token = peek()
        return token is not None and token[0] == "word" and token[1].lower() == word

    def primary() -> Predicate:
        nonlocal pos
        token = peek()
        if token is not None and token[0] == "lp":
            pos += 1
            inner = disjunction()
            take("rp")
            return inner
        field = take("word")
        op = take("op")
        value = take("str")[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        if op == "==":
            return lambda obj: str(obj.get(field, "")) == value
        return lambda obj: str(obj.get(field, "")) != value

    def conjunction() -> Predicate:
        nonlocal pos
        parts = [primary()]
        while keyword("and"):
            pos += 1
            parts.append(primary())
        return lambda obj: all(p(obj) for p in parts)

    def disjunction() -> Predicate:
        nonlocal pos
        parts = [conjunction()]
        while keyword("or"):
            pos += 1
            parts.append(conjunction())
        return lambda obj: any(p(obj) for p in parts)

    result = disjunction()
    if pos != len(tokens):
        raise FilterError(f"failed to parse filter: unexpected {tokens[pos][1]!r}")
    return result
