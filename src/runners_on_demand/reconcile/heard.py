"""The repositories heard of, as the Nomad Variable `[reconcile] state_variable` keeps them (pure).

The Variable has one item, `repos`: compact JSON `[["owner/repo", <last heard, unix seconds>],
...]`, newest first. Nomad refuses items over 64 KiB (nomad/structs/variables.go
maxVariableSize), so only the newest repositories that fit in `MAX_BYTES` (32 KiB: some 800
names of typical length, at least 200 of the longest GitHub allows) are kept; the oldest are
dropped. Nothing secret is in it: repository names and times.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable, Mapping

from runners_on_demand.names import is_valid_full_name

__all__ = [
    "ITEM",
    "MAX_BYTES",
    "REFRESH",
    "combine",
    "decode",
    "differs",
    "encode",
    "is_variable_path",
]

Heard = Mapping[str, tuple[str, float]]  # lower-case name -> (name, last heard)

ITEM = "repos"
MAX_BYTES = 32 * 1024
# A stored time is rewritten once the repository was heard of this much later (seconds): a
# restart may forget a repository up to an hour early, and busy ones cost a write an hour.
REFRESH = 3600.0
# nomad/structs/variables.go validVariablePath; rod keeps out of the reserved `nomad/` tree.
_PATH = re.compile(r"[a-zA-Z0-9\-_~/]{1,128}")


def is_variable_path(path: str) -> bool:
    """A path Nomad accepts for a Variable, outside `nomad/`; "" (no Variable) too."""
    return not path or (_PATH.fullmatch(path) is not None and path.split("/")[0] != "nomad")


def encode(heard: Heard) -> dict[str, str]:
    """The Variable's items for `heard` (already within `MAX_BYTES`: see `combine`)."""
    entries = [[name, int(at)] for name, at in _newest_first(heard.values())]
    return {ITEM: json.dumps(entries, separators=(",", ":"))}


def decode(items: Mapping[str, str]) -> dict[str, tuple[str, float]]:
    """What the Variable's items name; ValueError (one line) when they are not rod's format."""
    try:
        entries = json.loads(items[ITEM])
    except (KeyError, ValueError) as error:
        raise ValueError(f'no JSON list in item "{ITEM}"') from error
    if not isinstance(entries, list):
        raise ValueError(f'no JSON list in item "{ITEM}"')
    found: dict[str, tuple[str, float]] = {}
    for entry in entries:
        if not (isinstance(entry, list) and len(entry) == 2):
            continue
        name, at = entry
        valid_time = isinstance(at, int | float) and not isinstance(at, bool)
        if isinstance(name, str) and is_valid_full_name(name) and valid_time:
            key = name.lower()
            if key not in found or found[key][1] < at:
                found[key] = (name, float(at))
    return found


def combine(
    stored: Heard, ours: Heard, *, gone: Collection[str] = (), cutoff: float = 0.0
) -> dict[str, tuple[str, float]]:
    """What to store: both sides, the latest time of each, less the `gone` (GitHub's 404), those
    last heard before `cutoff`, and the oldest beyond `MAX_BYTES`."""
    merged: dict[str, tuple[str, float]] = {}
    for key, (name, at) in (*stored.items(), *ours.items()):
        if key not in gone and at >= cutoff and (key not in merged or merged[key][1] < at):
            merged[key] = (name, at)
    kept: dict[str, tuple[str, float]] = {}
    size = 2  # the list's brackets
    for name, at in _newest_first(merged.values()):
        size += len(json.dumps([name, int(at)], separators=(",", ":"))) + 1
        if size > MAX_BYTES:
            break
        kept[name.lower()] = (name, at)
    return kept


def differs(stored: Heard, wanted: Heard) -> bool:
    """Whether `wanted` is worth a write: another set of names, or a time `REFRESH` newer."""
    if stored.keys() != wanted.keys():
        return True
    return any(at > stored[key][1] + REFRESH for key, (_, at) in wanted.items())


def _newest_first(entries: Iterable[tuple[str, float]]) -> list[tuple[str, float]]:
    """Newest first; names break ties, so the encoding is stable."""
    return sorted(entries, key=lambda entry: (-entry[1], entry[0].lower()))
