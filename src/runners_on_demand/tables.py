"""Typed TOML tables: a settings dataclass declares each key once, with its type and bounds.

`read_table(ServerSettings, table, "server.", problems)` checks every key of `table` against the
dataclass's fields (int and float within `bounds`, bool, a str or a list of strings passing
`check`) and returns the settings; each problem is one line appended to `problems`. `typed`,
`string_list` and `unknown_keys` check loose keys the same way. Pure.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

__all__ = ["DAY", "bounds", "read_table", "string_list", "strings", "typed", "unknown_keys"]

T = TypeVar("T")
DAY = 86_400.0  # seconds: the upper bound of most durations in the settings


def bounds(low: float, high: float) -> dict[str, Any]:
    """Field metadata: a number from `low` to `high`."""
    return {"bounds": (low, high)}


def strings(check: Callable[[str], bool], message: str) -> dict[str, Any]:
    """Field metadata: a string (or a list of strings, each) passing `check`, else `message`."""
    return {"check": check, "message": message}


def read_table(cls: type[T], table: Mapping[str, Any], prefix: str, problems: list[str]) -> T:
    """`cls` with the values of `table`; every unknown or bad key is noted in `problems`."""
    assert dataclasses.is_dataclass(cls)
    specs = {spec.name: spec for spec in dataclasses.fields(cls)}
    kinds = typing.get_type_hints(cls)
    known = {name for name, spec in specs.items() if spec.init}
    problems += [
        f"unknown key {prefix}{key} in the config file" for key in table if key not in known
    ]
    values: dict[str, Any] = {}
    for key in (name for name in specs if name in known and name in table):  # declared order
        problem, converted = _check(kinds[key], specs[key].metadata, table[key], f"{prefix}{key}")
        if problem:
            problems.append(problem)
        else:
            values[key] = converted
    return cls(**values)


def _check(kind: Any, metadata: Mapping[str, Any], value: Any, where: str) -> tuple[str, Any]:
    """One problem line, or "" and the value converted to the field's type."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if kind is int or kind is float:
        low, high = metadata.get("bounds", (float("-inf"), float("inf")))
        exact = isinstance(value, int) if kind is int else number
        if number and exact and low <= value <= high:
            return "", kind(value)
        noun = "an integer" if kind is int else "a number"
        return f"{where} must be {noun} from {_shown(low)} to {_shown(high)}", None
    if kind is bool:
        if isinstance(value, bool):
            return "", value
        return f"{where} must be true or false", None
    if kind is str:
        if not isinstance(value, str):
            return f"{where} has the wrong type ({type(value).__name__})", None
        if "check" in metadata and not metadata["check"](value):
            return f"{where} {metadata['message']}", None
        return "", value
    # tuple[str, ...]
    check: Callable[[str], bool] = metadata.get("check", lambda item: True)
    if isinstance(value, list) and all(isinstance(v, str) and check(v) for v in value):
        return "", tuple(value)
    return f"{where} {metadata.get('message', 'must be a list of strings')}", None


def _shown(bound: float) -> str:
    """A bound as people write it: 86400, 0.1, 26214400."""
    return str(int(bound)) if float(bound).is_integer() else f"{bound:g}"


def unknown_keys(
    table: Mapping[str, Any], known: set[str], prefix: str, problems: list[str]
) -> None:
    """Note every key of `table` that is not in `known`."""
    for key in table:
        if key not in known:
            problems.append(f"unknown key {prefix}{key} in the config file")


def typed(table: Mapping[str, Any], key: str, kind: type, where: str, problems: list[str]) -> Any:
    """`table[key]` if it has type `kind`; None (with a problem if present) otherwise."""
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        problems.append(f"{where} has the wrong type ({type(value).__name__})")
        return None
    return value


def string_list(
    table: Mapping[str, Any], key: str, where: str, problems: list[str]
) -> list[str] | None:
    """`table[key]` as a list of strings, or None."""
    value = typed(table, key, list, where, problems)
    if value is not None and not all(isinstance(item, str) for item in value):
        problems.append(f"{where} must be a list of strings")
        return None
    return None if value is None else list(value)
