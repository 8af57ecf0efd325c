"""How long the reconciler's pure plan takes for big worlds (no I/O: the CPU cost of one tick).

Usage: python scripts/bench_reconcile_plan.py [--jobs 500 2000 10000] [--repeat 5]

For each size N: N queued jobs over 4 repositories and 3 label sets, and N units in a seeded mix
of states (idle, busy, booting, never connected, failed, orphaned, foreign). Prints the median
plan time, the actions planned, and that planning again after applying them yields nothing.
Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import statistics
import time

from runners_on_demand.observed import MANAGED_BY, Child, Runner, queued_job_from_rest
from runners_on_demand.reconcile.plan import (
    MakeRunner,
    Observation,
    Plan,
    ReconcilePolicy,
    Retire,
    plan,
)

REPOS = ["octo/app", "octo/lib", "octo/web", "acme/infra"]
LABELS = [["self-hosted"], ["self-hosted", "linux"], ["self-hosted", "linux", "gpu"]]
NOW = 1_800_000_000.0


def world(size: int, rng: random.Random) -> Observation:
    """N queued jobs and N units of ours in mixed states, plus some foreign ones."""
    jobs, children, runners = [], [], []
    for job_id in range(1, size + 1):
        repo, labels = rng.choice(REPOS), rng.choice(LABELS)
        rest = {
            "id": job_id,
            "run_id": job_id,
            "run_attempt": 1,
            "name": "b",
            "status": "queued",
            "labels": labels,
        }
        queued = queued_job_from_rest(rest, {"full_name": repo, "html_url": f"https://x/{repo}"})
        if queued is not None and rng.random() < 0.7:
            jobs.append(queued)
        name = f"rod-{job_id}-1"
        meta = {
            "managed_by": MANAGED_BY,
            "REPO_FULL_NAME": repo,
            "GITHUB_JOB_ID": str(job_id),
            "RUNNER_NAME": name,
            "RUNNER_LABELS": ",".join(labels),
        }
        age = rng.choice([5.0, 100.0, 3600.0])
        status = rng.choice(["pending", "running", "running", "dead"])
        failed = rng.random() < 0.05
        children.append(
            Child(
                f"github-runner/dispatch-{job_id}",
                "github-runner",
                status,
                False,
                meta,
                NOW - age,
                failed,
            )
        )
        if rng.random() < 0.9:
            runners.append(
                Runner(
                    repo,
                    job_id,
                    name,
                    rng.choice(["online", "offline"]),
                    rng.random() < 0.3,
                    tuple(labels),
                )
            )
    runners += [Runner("octo/app", 10**9 + n, f"build-{n}", "online", False) for n in range(50)]
    return Observation(NOW, frozenset(REPOS), tuple(jobs), tuple(children), tuple(runners))


def applied(observation: Observation, result: Plan) -> Observation:
    """The world after the plan's effects."""
    runners = list(observation.runners)
    children = list(observation.children)
    stopped = {a.child_id for a in result.actions if isinstance(a, Retire)}
    removed = {a.runner_id for a in result.actions if isinstance(a, Retire)}
    runners = [r for r in runners if r.id not in removed]
    children = [dataclasses.replace(c, stop=True) if c.id in stopped else c for c in children]
    for action in result.actions:
        if isinstance(action, MakeRunner):
            event, name = action.event, action.dispatch.runner_name
            meta = {
                "managed_by": MANAGED_BY,
                "REPO_FULL_NAME": event.repo_full_name,
                "GITHUB_JOB_ID": str(event.job_id),
                "RUNNER_NAME": name,
                "RUNNER_LABELS": ",".join(event.labels),
            }
            children.append(
                Child(
                    f"github-runner/dispatch-{name}",
                    "github-runner",
                    "pending",
                    False,
                    meta,
                    NOW,
                    False,
                )
            )
            # A JIT runner exists on GitHub before its child is dispatched.
            runners.append(
                Runner(event.repo_full_name, 2 * 10**9 + len(runners), name, "offline", False)
            )
    return dataclasses.replace(observation, children=tuple(children), runners=tuple(runners))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, nargs="+", default=[500, 2000, 10000])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    policy = ReconcilePolicy()
    print(f"{'jobs':>7} {'units':>7} {'median ms':>10} {'dispatch':>9} {'retire':>7} {'again':>6}")
    for size in args.jobs:
        observation = world(size, random.Random(size))
        timings = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            result = plan(observation, policy)
            timings.append(time.perf_counter() - started)
        dispatches = sum(isinstance(a, MakeRunner) for a in result.actions)
        again = len(plan(applied(observation, result), policy).actions)
        print(
            f"{len(observation.jobs):>7} {len(observation.children):>7} "
            f"{statistics.median(timings) * 1000:>10.1f} {dispatches:>9} "
            f"{len(result.actions) - dispatches:>7} {again:>6}"
        )


if __name__ == "__main__":
    main()
