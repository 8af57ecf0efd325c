"""Pure checks over snapshots: each returns the problems it found, an empty list meaning "holds".

Steps and `rod demo` poll a snapshot until a check comes back empty; on timeout the problems are
the failure message, so a red scenario says what was missing rather than just "False".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from simulator.harness.observe import ChildView, JobView, RunnerView, Snapshot


def missing_labels(wanted: Iterable[str], have: Iterable[str]) -> list[str]:
    """Labels in `wanted` absent from `have`, compared case-insensitively as GitHub does."""
    present = {label.lower() for label in have}
    return [label for label in wanted if label.lower() not in present]


def child_problems(snapshot: Snapshot, job: JobView, repo: str) -> list[str]:
    """Exactly one Nomad child serves `job`, and its Meta matches the webhook's job."""
    children = snapshot.children_for_job(job.id)
    if len(children) != 1:
        return [f"{len(children)} Nomad children carry GITHUB_JOB_ID={job.id}, expected 1"]
    return meta_problems(children[0], job, repo)


def runner_child_problems(snapshot: Snapshot, job: JobView, repo: str) -> list[str]:
    """The job was picked up by a runner one Nomad child started, whose Meta matches the job.

    A scale set's runner is not made for one job (`rod listen`: GITHUB_JOB_ID is 0), so the
    child is the one that started the runner the job ran on.
    """
    if not job.runner_name:
        return [f"job {job.id} is {job.status} and no runner has picked it up"]
    children = [child for child in snapshot.children if child.runner_name == job.runner_name]
    if len(children) != 1:
        return [f"{len(children)} Nomad children started runner {job.runner_name}, expected 1"]
    return meta_problems(children[0], job, repo)


def meta_problems(child: ChildView, job: JobView, repo: str) -> list[str]:
    """The child's Meta names the job's repository and run, a runner, and the job's labels."""
    problems = []
    if child.meta.get("REPO_FULL_NAME") != repo:
        problems.append(f"{child.id}: REPO_FULL_NAME={child.meta.get('REPO_FULL_NAME')!r}")
    if child.meta.get("REPO_SHORT_NAME") != repo.split("/", 1)[1]:
        problems.append(f"{child.id}: REPO_SHORT_NAME={child.meta.get('REPO_SHORT_NAME')!r}")
    if child.meta.get("WORKFLOW_RUN") != str(job.run_id):
        problems.append(f"{child.id}: WORKFLOW_RUN={child.meta.get('WORKFLOW_RUN')!r}")
    if not child.runner_name:
        problems.append(f"{child.id}: no RUNNER_NAME in Meta")
    if lost := missing_labels(job.labels, child.labels):
        problems.append(f"{child.id}: RUNNER_LABELS lacks {lost}")
    return problems


def payload_problems(payload: Mapping[str, Any], job: JobView, repo: str) -> list[str]:
    """The dispatch payload carries the webhook's repo, job and run, and no runner credential.

    Anyone who may read the job reads its payload; the credential is in a Nomad Variable only
    the runner task may read (docs/architecture.md).
    """
    expected = {"repo": repo, "job": job.name, "run_id": job.run_id}
    problems = [
        f"payload {key}={payload.get(key)!r}, webhook said {value!r}"
        for key, value in expected.items()
        if payload.get(key) != value
    ]
    if not str(payload.get("url", "")).endswith(f"/{repo}"):
        problems.append(f"payload url={payload.get('url')!r} is not the repository's html_url")
    if leaked := [key for key in ("jit_config", "registration_token") if key in payload]:
        problems.append(f"payload carries {', '.join(leaked)}, which read-job can read")
    return problems


def registered_runner_problems(seen: Iterable[RunnerView], name: str, job: JobView) -> list[str]:
    """A runner called `name` was registered on GitHub with every label the job asked for."""
    runners = [runner for runner in seen if runner.name == name]
    if len(runners) != 1:
        return [f"{len(runners)} runners named {name!r} seen on GitHub, expected 1"]
    if lost := missing_labels(job.labels, runners[0].labels):
        return [f"runner {name!r} registered without labels {lost}"]
    return []


def ran_on_problems(job: JobView, child: ChildView, seen: Iterable[RunnerView]) -> list[str]:
    """The job was run by the very runner the Nomad child was dispatched to start."""
    if job.runner_name is None:
        return [f"job {job.id} is {job.status} and no runner has picked it up"]
    if job.runner_name != child.runner_name:
        started = child.runner_name
        return [f"job {job.id} ran on {job.runner_name!r}, its Nomad child started {started!r}"]
    ids = {runner.id for runner in seen if runner.name == child.runner_name}
    if job.runner_id not in ids:
        return [f"job {job.id} ran on runner id {job.runner_id}, registered ids were {sorted(ids)}"]
    return []


def drained_problems(snapshot: Snapshot) -> list[str]:
    """Nothing is left: no registered runner, no pending or running allocation."""
    problems = [f"runner {r.name}#{r.id} still registered ({r.status})" for r in snapshot.runners]
    problems += [f"allocation {a.id} still {a.client_status}" for a in snapshot.live_allocations]
    return problems


def no_runner_problems(snapshot: Snapshot, job: JobView) -> list[str]:
    """No Nomad child and no GitHub runner was made for `job`."""
    problems = [f"Nomad child {c.id} was dispatched" for c in snapshot.children_for_job(job.id)]
    problems += [f"runner {r.name} is registered" for r in snapshot.runners]
    return problems


@dataclass(frozen=True)
class Verdict:
    """The outcome for one job of a run, for the demo's summary table."""

    job: JobView
    ok: bool
    detail: str


def fresh_runner_problems(
    snapshot: Snapshot, job: JobView, seen: Iterable[RunnerView], repo: str
) -> list[str]:
    """A runner we dispatched, carrying the job's labels, ran this job and no other.

    GitHub gives a queued job to any idle runner whose labels match, so with identical label sets
    a job may run on the runner dispatched for its twin ("job stealing"); that is still a fresh
    runner of its own, as long as each runner ran one job and each job got one dispatch.
    """
    return child_problems(snapshot, job, repo) + ran_once_problems(snapshot, job, seen)


def ran_once_problems(snapshot: Snapshot, job: JobView, seen: Iterable[RunnerView]) -> list[str]:
    """The job completed on a runner one of our Nomad children started, and that ran no other."""
    if job.status != "completed" or not job.runner_name:
        return [f"job is {job.status} on {job.runner_name or 'no runner'}"]
    problems = []
    ours = [child for child in snapshot.children if child.runner_name == job.runner_name]
    if not ours:
        problems.append(f"job ran on {job.runner_name}, which no Nomad child started")
    else:
        problems += ran_on_problems(job, ours[0], seen)
        problems += registered_runner_problems(seen, job.runner_name, job)
    if [j.runner_name for j in snapshot.jobs].count(job.runner_name) > 1:
        problems.append(f"runner {job.runner_name} ran more than one job")
    return problems


def served_once_problems(snapshot: Snapshot, seen: Iterable[RunnerView]) -> list[str]:
    """Each job ran once on a fresh runner of ours, and every runner we started ran a job.

    Unlike `fresh_runner_problems`, which runner was made for which job does not matter: after
    job stealing, a replacement runner carries the GITHUB_JOB_ID of whichever job was still
    queued. The totals are what an operator pays for: as many runners as jobs, none idle.
    """
    seen = list(seen)
    problems = [
        f"job {job.id}: {problem}"
        for job in snapshot.jobs
        for problem in ran_once_problems(snapshot, job, seen)
    ]
    ran = {job.runner_name for job in snapshot.jobs}
    idle = [child.runner_name for child in snapshot.children if child.runner_name not in ran]
    if idle:
        problems.append(f"runners started for no job: {idle}")
    return problems


def story_verdicts(
    snapshot: Snapshot, seen: Iterable[RunnerView], repo: str, *, listen: bool = False
) -> list[Verdict]:
    """Per job: a self-hosted job ran on a fresh runner of its own; a hosted one got none.

    `listen`: a scale set's runners are not made for one job, so a job's runner is found by its
    name (`runner_child_problems`) instead of the child's GITHUB_JOB_ID.
    """
    seen = list(seen)
    verdicts = []
    for job in snapshot.jobs:
        if not job.self_hosted:
            made = snapshot.children_for_job(job.id)
            detail = "no runner (GitHub-hosted)" if not made else f"{len(made)} Nomad children made"
            verdicts.append(Verdict(job, not made, detail))
            continue
        if listen:
            problems = runner_child_problems(snapshot, job, repo)
            problems += ran_once_problems(snapshot, job, seen)
        else:
            problems = fresh_runner_problems(snapshot, job, seen, repo)
        detail = "; ".join(problems) or "its own fresh runner, used once"
        verdicts.append(Verdict(job, not problems, detail))
    return verdicts
