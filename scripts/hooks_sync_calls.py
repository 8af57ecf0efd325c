"""`rod hooks sync` over many repositories: what each run changes, and what it costs in API calls.

Usage: python scripts/hooks_sync_calls.py [--repos 50]

Starts the GitHub emulator on a loopback port with the organization acme holding --repos private
repositories, then runs `rod hooks sync acme` as a real process (`rod` of this interpreter's
environment), keeping its ETag cache in a temporary directory between runs: a dry run, a first
run, a second and a third, and last a `--prune` run narrowed to two repositories. Per run it
prints the plan, the changes made, the API calls and how many of them were answered 304 Not
Modified (free against the rate limit), and how much of the hourly rate limit the run used.
Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from simulator.github import GitHubEmulator
from simulator.serving import free_port

TOKEN = "ghp_hooks_sync_calls"
SECRET = "hooks-sync-calls-secret"
ORG = "acme"


@dataclass(frozen=True)
class Figures:
    """One `rod hooks sync` run, as its output tells it."""

    name: str
    exit_code: int
    plan: str
    changes: int
    calls: int
    not_modified: int
    remaining: int


def parse(name: str, code: int, output: str) -> Figures:
    """The figures in one run's output."""
    plan = re.search(r"^plan: (.*)$", output, re.MULTILINE)
    done = re.search(r"^done: (\d+) changes", output, re.MULTILINE)
    calls = re.search(r"API calls: (\d+) \((\d+) answered 304.*remaining: (\d+)", output)
    assert plan and calls, output
    changes = int(done[1]) if done else 0
    steps = ", ".join(part for part in plan[1].split(", ") if not part.startswith("0 "))
    return Figures(name, code, steps, changes, int(calls[1]), int(calls[2]), int(calls[3]))


def run(repos: int) -> list[Figures]:
    """The five runs against a fresh emulator."""
    github = GitHubEmulator(orgs=[ORG], tokens=[TOKEN]).start()
    figures: list[Figures] = []
    try:
        for n in range(repos):
            github.backend.create_repo(f"{ORG}/repo-{n:03d}", private=True)
        url = f"http://127.0.0.1:{free_port()}/webhook"  # nothing listens: pings fail fast
        rod = str(Path(sys.executable).with_name("rod"))
        with tempfile.TemporaryDirectory() as cache:
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "ROD_"))},
                "GITHUB_TOKEN": TOKEN,
                "GITHUB_API_URL": github.url,
                "GITHUB_WEBHOOK_SECRET": SECRET,
            }
            base = [rod, "hooks", "sync", ORG, "--url", url, "--cache", f"{cache}/etags.json"]
            runs = {
                "dry run": ["--dry-run"],
                "first": [],
                "second": [],
                "third": [],
                "prune to 2": ["--repo", "repo-000", "--repo", "repo-001", "--prune"],
            }
            for name, extra in runs.items():
                done = subprocess.run(
                    [*base, *extra], env=env, capture_output=True, text=True, timeout=600
                )
                assert SECRET not in done.stdout + done.stderr
                figures.append(parse(name, done.returncode, done.stdout))
                github.backend.deliverer.wait_idle()
        left = len(github.backend.hooks)
    finally:
        github.stop()
    assert left == min(2, repos), left
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repos", type=int, default=50)
    args = parser.parse_args()
    figures = run(args.repos)
    table = Table(title=f"rod hooks sync {ORG}: {args.repos} repositories")
    for column in ("run", "exit", "plan", "changes", "API calls", "304 (free)", "quota used"):
        table.add_column(column)
    before = 5000
    for f in figures:
        used = before - f.remaining
        before = f.remaining
        table.add_row(
            f.name,
            str(f.exit_code),
            f.plan,
            str(f.changes),
            str(f.calls),
            str(f.not_modified),
            str(used),
        )
    Console(width=120).print(table)


if __name__ == "__main__":
    main()
