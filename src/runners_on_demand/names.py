"""The names this project reads and makes: GitHub logins and repositories, and runner names.

Pure functions, shared by every intake, the decision and the reconciler.
"""

from __future__ import annotations

import re
from typing import NamedTuple

__all__ = [
    "MAX_ATTEMPT",
    "MAX_ID",
    "RunnerName",
    "is_valid_full_name",
    "is_valid_owner",
    "is_valid_repo_name",
    "parse_runner_name",
    "runner_name",
]

# GitHub's ids are 64-bit integers (REST schema: integer, format int64); run attempts are small.
MAX_ID = 2**63 - 1
MAX_ATTEMPT = 2**31 - 1
# GitHub user/org names: 1-39 alphanumerics or hyphens, not starting with a hyphen.
_OWNER = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,38}")
# Repository names: letters, digits, '.', '_' and '-', at most 100 characters; '.' and '..' are
# reserved (GitHub refuses them when a repository is created or renamed).
_REPO = re.compile(r"[A-Za-z0-9._-]{1,100}")
# `rod-{job id}-{run attempt}[-r{retry}]`; job ids fit GitHub's int64 ids.
_RUNNER = re.compile(r"rod-([1-9][0-9]{0,19})-([1-9][0-9]{0,9})(?:-r([1-9][0-9]{0,4}))?")


def is_valid_owner(owner: str) -> bool:
    """Whether `owner` is a well-formed GitHub user or organization login."""
    return _OWNER.fullmatch(owner) is not None


def is_valid_repo_name(name: str) -> bool:
    """Whether `name` is a well-formed GitHub repository name (without its owner)."""
    return _REPO.fullmatch(name) is not None and name not in (".", "..")


def is_valid_full_name(full_name: str) -> bool:
    """Whether `full_name` is exactly `owner/repo` in GitHub's grammar."""
    owner, sep, name = full_name.partition("/")
    return sep == "/" and is_valid_owner(owner) and is_valid_repo_name(name)


class RunnerName(NamedTuple):
    """The parts of a runner name this project made."""

    job_id: int
    run_attempt: int
    retry: int  # 0 for the first runner of a job attempt


def runner_name(job_id: int, run_attempt: int, retry: int = 0) -> str:
    """The runner name, also the Nomad idempotency token: unique per job, attempt and retry."""
    return f"rod-{job_id}-{run_attempt}" + (f"-r{retry}" if retry else "")


def parse_runner_name(name: str) -> RunnerName | None:
    """The parts of `name` if this project could have made it, else None."""
    match = _RUNNER.fullmatch(name)
    if match is None:
        return None
    return RunnerName(int(match[1]), int(match[2]), int(match[3] or 0))
