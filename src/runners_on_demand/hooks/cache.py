"""The conditional-request cache of `rod hooks`, kept in a file between runs.

GitHub answers a GET whose `If-None-Match` holds the ETag of an unchanged answer with 304, which
costs no rate limit; keeping the ETags (and the bodies they stand for) between runs makes a
second `rod hooks sync` over unchanged repositories nearly free. The file holds listings only
(repositories, hooks with their secret masked, deliveries without payloads), never a secret,
and is written with mode 0600 all the same.
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path

from runners_on_demand.ports.github import EtagCache

__all__ = ["CACHE_ENTRIES", "default_path", "load", "save", "unwritable"]

# URLs remembered: a sync of a few thousand repositories, and their deliveries.
CACHE_ENTRIES = 20_000


def default_path(environ: Mapping[str, str]) -> Path:
    """`$XDG_CACHE_HOME/runners-on-demand/github-etags.json` (or under ~/.cache)."""
    base = environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "runners-on-demand" / "github-etags.json"


def load(path: Path) -> EtagCache:
    """The cache in `path`; empty when there is none or it cannot be read."""
    cache: EtagCache = OrderedDict()
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return cache
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, list) and len(entry) == 4 and isinstance(entry[0], str):
            url, etag, body, following = entry
            cache[url] = (str(etag), body, following if isinstance(following, str) else None)
    return cache


def unwritable(path: Path) -> str | None:
    """Why `save` could not write `path`, asked before any work; None when it can."""
    folder = path.parent
    while not folder.exists():  # save makes the missing folders
        folder = folder.parent
    if path.is_dir():
        return "is a directory"
    if not folder.is_dir():
        return f"{folder} is not a directory"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"{folder} is not writable"
    return None


def save(path: Path, cache: EtagCache) -> None:
    """Write the cache (newest entries last), replacing the file at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    entries = [[url, *value] for url, value in list(cache.items())[-CACHE_ENTRIES:]]
    partial = path.with_suffix(".tmp")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        json.dump(entries, file)
    partial.replace(path)
