"""The `[[pools]]` array of the config file: names unique, jobs plausible Nomad job ids. Pure.

    [[pools]]
    name = "linux"
    nomad_job = "github-runner"
    labels = ["linux", "x64"]          # the trigger label is implied; [] takes any job
    runner_group = "linux-runners"     # optional: org runners, in this group of `organization`

A pool with a `runner_group` makes its runners at the top-level `organization`, in that group
(resolved to its id when `rod serve` starts). The reconciler tells a child's pool by its Nomad
job, so pools that share a `nomad_job` must share the `runner_group` too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from runners_on_demand.decision import Pool
from runners_on_demand.tables import string_list, typed, unknown_keys

__all__ = ["read_pools"]

_KEYS = {"name", "nomad_job", "labels", "runner_group"}


def read_pools(
    document: Mapping[str, Any], organization: str | None, problems: list[str]
) -> tuple[Pool, ...]:
    """The pools of `document["pools"]`; every problem is one line in `problems`."""
    entries = typed(document, "pools", list, "pools", problems) or []
    pools: list[Pool] = []
    for index, entry in enumerate(entries):
        where = f"pools[{index}]"
        if not isinstance(entry, dict):
            problems.append(f"{where} must be a table with name, nomad_job and labels")
            continue
        unknown_keys(entry, _KEYS, f"{where}.", problems)
        name = typed(entry, "name", str, f"{where}.name", problems)
        job = typed(entry, "nomad_job", str, f"{where}.nomad_job", problems)
        labels = string_list(entry, "labels", f"{where}.labels", problems)
        group = typed(entry, "runner_group", str, f"{where}.runner_group", problems)
        if not name:
            problems.append(f"{where}.name is missing or empty")
        elif any(pool.name == name for pool in pools):
            problems.append(f"{where}.name {name!r} is used by an earlier pool")
        # Nomad refuses job ids with spaces or NUL; '/' would change the dispatch URL.
        if not job or re.search(r"[\s/\x00?#%]", job):
            problems.append(f"{where}.nomad_job must be a Nomad job id (no spaces or '/')")
        if labels is None:
            problems.append(f"{where}.labels is missing; use [] for a pool that takes any job")
        elif any(not label.strip() or "," in label for label in labels):
            problems.append(f"{where}.labels must be non-empty labels without commas")
        if group is not None and not _usable_group(where, group, organization, problems):
            group = None
        if name and job and labels is not None:
            pools.append(Pool(name, job, frozenset(labels), runner_group=group))
    for index, pool in enumerate(pools):
        earlier = next((p for p in pools[:index] if p.nomad_job == pool.nomad_job), None)
        if earlier is not None and earlier.runner_group != pool.runner_group:
            problems.append(
                f"pools {earlier.name!r} and {pool.name!r} share nomad_job {pool.nomad_job!r} "
                "but not their runner_group; give each runner group its own Nomad job"
            )
    if organization is not None and not any(pool.runner_group for pool in pools):
        problems.append("organization is set, but no pool names a runner_group to use it for")
    return tuple(pools)


def _usable_group(where: str, group: str, organization: str | None, problems: list[str]) -> bool:
    """Whether the runner group name is usable; notes the problem if not."""
    if not group.strip() or re.search(r"[\r\n\x00]", group):
        problems.append(f"{where}.runner_group must be a runner group's name")
        return False
    if organization is None:
        problems.append(
            f'{where}.runner_group needs the top-level organization = "<login>" it belongs to'
        )
        return False
    return True
