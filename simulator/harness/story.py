"""What the steps do and expect, in the article's terms; each expectation polls the real APIs.

Every function here either acts through a public API and checks the answer, or waits until a
check from `checks` comes back empty and fails with its problems and the last snapshot. Where the
listen intake differs (no hook, no delivery, runners not made for one job), `listen_story` says
what holds instead.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

from simulator.harness import checks, idle, listen_story
from simulator.harness.errors import WaitTimeout
from simulator.harness.github_client import ScriptedJob
from simulator.harness.observe import ChildView, JobView, RunnerView, Snapshot, decode_payload
from simulator.harness.waiting import wait_for
from simulator.harness.world import World


def _poll(world: World, what: str, problems: Callable[[Snapshot], list[str]]) -> Snapshot:
    """Snapshot until `problems` finds none; on timeout say what was wrong and what was seen."""
    observer = world.stack.observer
    try:
        return wait_for(
            what,
            lambda: observer.snapshot(world.run_ids, world.repo),
            lambda snapshot: not problems(snapshot),
            timeout=world.timeout,
            describe=lambda snapshot: f"{'; '.join(problems(snapshot))} | {snapshot.describe()}",
            transient=(httpx.TransportError,),
        )
    except WaitTimeout as exc:
        raise WaitTimeout(f"{exc} | {world.stack.backend.diagnostics()}") from None


def expect_webhook_for_workflow_jobs(world: World) -> dict[str, Any]:
    """The repository has one active JSON hook sending `workflow_job` events to the dispatcher.

    Listen intake: its scale set, with one session, is what tells the listener about jobs.
    """
    if listen_story.listening(world):
        return listen_story.expect_scale_set_session(world)
    url = world.stack.endpoints.webhook_url
    hooks = [
        h for h in world.stack.github.list_hooks(world.stack.scope) if h["config"]["url"] == url
    ]
    assert len(hooks) == 1, f"expected one hook to {url}, GitHub lists {len(hooks)}"
    hook = hooks[0]
    assert hook["active"], f"hook {hook['id']} is inactive"
    assert "workflow_job" in hook["events"], f"hook {hook['id']} sends only {hook['events']}"
    assert hook["config"].get("content_type") == "json", f"hook config: {hook['config']}"
    # GitHub shows a set secret as "********" (https://docs.github.com/rest/repos/webhooks).
    assert hook["config"].get("secret") == "********", "the hook is not signed with a secret"
    return hook


def expect_dispatcher_ready(world: World) -> None:
    """The dispatcher answers `/readyz` 200: it reaches GitHub and Nomad."""
    url = f"{world.stack.endpoints.dispatcher_url}/readyz"
    response = world.tape.record(httpx.get(url, timeout=5))
    assert response.status_code == 200, f"/readyz answered {response.status_code}: {response.text}"


def expect_no_demand(world: World) -> Snapshot:
    """No workflow run is queued or in progress, and nothing runs on the cluster."""
    for status in ("queued", "in_progress"):
        runs = world.stack.github.list_runs(world.repo, status=status)
        assert not runs, f"{len(runs)} workflow runs are {status}: {[r['id'] for r in runs]}"
    snapshot = world.stack.observer.snapshot(world.run_ids)
    problems = checks.drained_problems(snapshot)
    assert not problems, "; ".join(problems)
    return snapshot


def trigger_run(
    world: World, jobs: list[ScriptedJob], event: str = "pull_request"
) -> list[JobView]:
    """Start a workflow run and wait until GitHub lists its jobs with the scripted labels."""
    run = world.stack.start_run(jobs, event=event, repo=world.repo)
    run_id = int(run["id"])
    world.run_ids.append(run_id)
    observer = world.stack.observer
    listed = wait_for(
        f"GitHub to list the {len(jobs)} jobs of run {run_id}",
        lambda: observer.jobs([run_id], world.repo),
        lambda views: len(views) == len(jobs),
        timeout=world.timeout,
    )
    by_name = {view.name: view for view in listed}
    for job in jobs:
        view = by_name.get(job.name)
        assert view is not None, f"run {run_id} has no job {job.name!r}: {sorted(by_name)}"
        assert list(view.labels) == list(job.labels), f"{job.name}: labels {view.labels}"
    return [by_name[job.name] for job in jobs]


def expect_delivered(world: World, job: JobView, action: str = "queued") -> dict[str, Any] | None:
    """GitHub delivered the job's `workflow_job` `action` event and the dispatcher took it (2xx).

    Listen intake: the listener acquired the job (if its labels are the scale set's).
    """
    if listen_story.listening(world):
        return listen_story.expect_heard(world, job)
    github, hook_id, hooked = world.stack.github, world.stack.hook_id, world.stack.scope
    assert hook_id is not None, "no webhook was created"

    def delivery() -> dict[str, Any] | None:
        for item in github.list_deliveries(hooked, hook_id):
            if item["event"] == "workflow_job" and item["action"] == action and item["status_code"]:
                detail = github.get_delivery(hooked, hook_id, item["id"])
                if detail["request"]["payload"]["workflow_job"]["id"] == job.id:
                    return detail
        return None

    found = wait_for(
        f"the {action} delivery of job {job.id} to be answered",
        delivery,
        lambda detail: detail is not None,
        timeout=world.timeout,
        describe=lambda _: "no answered delivery for that job yet",
    )
    assert found is not None
    assert 200 <= found["status_code"] < 300, (
        f"the dispatcher answered {found['status_code']}: {found['response']['payload']}"
    )
    return found


def expect_ignored(world: World, job: JobView) -> str:
    """The dispatcher answered the job's queued delivery with a reason to make no runner.

    Listen intake: GitHub never offered the job to the scale set while the listener polled.
    """
    if listen_story.listening(world):
        return listen_story.expect_not_offered(world, job)
    delivery = expect_delivered(world, job)
    assert delivery is not None
    body = json.loads(delivery["response"]["payload"] or "{}")
    assert "ignored" in body, f"the dispatcher did not ignore job {job.id}: {body}"
    reason: str = body["ignored"]
    return reason


def expect_no_runner(world: World, job: JobView) -> None:
    """No Nomad child and no GitHub runner exists for the job (listen intake: none at all).

    Not just now: every dispatcher has carried out what it accepted, and its reconciler's next
    tick would make the still-queued job no runner either (`idle`).
    """
    if listen_story.listening(world):
        listen_story.expect_no_child(world)
        return
    idle.await_dispatchers_idle(world)
    idle.expect_no_dispatch_planned(world.stack, world.repo, job.id)
    snapshot = world.stack.observer.snapshot(world.run_ids, world.repo)
    problems = checks.no_runner_problems(snapshot, job)
    assert not problems, f"{'; '.join(problems)} | {snapshot.describe()}"


def await_child(world: World, job: JobView) -> ChildView:
    """Exactly one Nomad child of the runner job serves `job`, with the webhook's Meta.

    Listen intake: the child that started the runner the job ran on.
    """
    if listen_story.listening(world):
        snapshot = _poll(
            world,
            f"job {job.id} to run on a runner a Nomad child of {world.stack.settings.runner_job}"
            " started",
            lambda s: checks.runner_child_problems(s, s.job(job.id) or job, world.repo),
        )
        picked = world.job = snapshot.job(job.id)
        assert picked is not None
        (world.child,) = [c for c in snapshot.children if c.runner_name == picked.runner_name]
        return world.child
    snapshot = _poll(
        world,
        f"a Nomad child of {world.stack.settings.runner_job} for job {job.id}",
        lambda s: checks.child_problems(s, s.job(job.id) or job, world.repo),
    )
    child = snapshot.children_for_job(job.id)[0]
    world.child = child
    return child


def expect_payload_from_webhook(world: World, job: JobView, child: ChildView) -> dict[str, Any]:
    """The child's dispatch payload carries the webhook's repository, job and run."""
    payload = decode_payload(world.stack.nomad.get_job(child.id))
    problems = checks.payload_problems(payload, job, world.repo)
    assert not problems, "; ".join(problems)
    return payload


def await_registered_runner(world: World, job: JobView, child: ChildView) -> RunnerView:
    """GitHub registered the runner the child starts, with every label the job asked for."""
    name = child.runner_name or ""
    ledger = world.stack.observer.ledger
    _poll(
        world,
        f"runner {name} to be registered on GitHub",
        lambda _: checks.registered_runner_problems(ledger.seen.values(), name, job),
    )
    runner = ledger.named(name)[0]
    world.runner = runner
    return runner


def await_ran_on_child_runner(world: World, job: JobView, child: ChildView) -> JobView:
    """The job was picked up by the very runner its Nomad child started."""
    ledger = world.stack.observer.ledger

    def problems(snapshot: Snapshot) -> list[str]:
        current = snapshot.job(job.id) or job
        return checks.ran_on_problems(current, child, ledger.seen.values())

    snapshot = _poll(world, f"job {job.id} to run on {child.runner_name}", problems)
    picked = snapshot.job(job.id)
    assert picked is not None
    world.job = picked
    return picked


def await_runner_busy(world: World, runner: RunnerView) -> RunnerView:
    """The runner is online and busy with a job."""

    def problems(snapshot: Snapshot) -> list[str]:
        now = [r for r in snapshot.runners if r.id == runner.id]
        if not now:
            return [f"runner {runner.name} is not registered"]
        return [] if now[0].busy else [f"runner {runner.name} is {now[0].status}, not busy"]

    snapshot = _poll(world, f"runner {runner.name} to be busy", problems)
    return next(r for r in snapshot.runners if r.id == runner.id)


def await_job_completed(world: World, job: JobView, conclusion: str) -> JobView:
    """GitHub reports the job completed with `conclusion`."""

    def problems(snapshot: Snapshot) -> list[str]:
        current = snapshot.job(job.id)
        if current is None:
            return [f"job {job.id} is not listed"]
        if (current.status, current.conclusion) != ("completed", conclusion):
            return [f"job {job.id} is {current.status}/{current.conclusion}"]
        return []

    snapshot = _poll(world, f"job {job.id} to complete with {conclusion}", problems)
    done = snapshot.job(job.id)
    assert done is not None
    world.job = done
    return done


def await_runner_removed(world: World, runner: RunnerView) -> None:
    """GitHub no longer knows the runner: the runners list lacks it and GET answers 404."""
    _poll(
        world,
        f"runner {runner.name} to be removed from {world.repo}",
        lambda s: [f"runner {r.name} still registered" for r in s.runners if r.id == runner.id],
    )
    left = world.stack.github.get_runner(world.repo, runner.id)
    assert left is None, f"GET runner {runner.id} still answers: {left}"


def await_allocations_finished(world: World, child: ChildView) -> ChildView:
    """The child's allocation ran and finished; none is pending or running."""

    def problems(snapshot: Snapshot) -> list[str]:
        now = [c for c in snapshot.children if c.id == child.id]
        if not now:
            return [f"Nomad child {child.id} is gone"]
        if not now[0].allocations:
            return [f"Nomad child {child.id} has no allocation"]
        return [f"allocation {a.id} is {a.client_status}" for a in now[0].allocations if a.live]

    snapshot = _poll(world, f"the allocation of {child.id} to finish", problems)
    return next(c for c in snapshot.children if c.id == child.id)


def await_drained(world: World) -> Snapshot:
    """Zero registered runners and zero pending or running allocations, on GitHub and Nomad,
    and it stays so: once nothing more is coming (`idle.await_settled`), still zero."""
    _poll(world, "the runners to scale to zero", checks.drained_problems)
    idle.await_settled(world)
    snapshot = world.stack.observer.snapshot(world.run_ids, world.repo)
    problems = checks.drained_problems(snapshot)
    assert not problems, f"{'; '.join(problems)} | {snapshot.describe()}"
    summary = world.stack.nomad.get_summary(world.stack.settings.runner_job)
    children = summary.get("Children") or {}
    assert not children.get("Running") and not children.get("Pending"), (
        f"Nomad summary of {world.stack.settings.runner_job} still counts children {children}"
    )
    return snapshot


def await_no_scheduled_jobs(world: World) -> None:
    """Wait until GitHub lists no workflow run that is queued or in progress."""
    github = world.stack.github
    wait_for(
        "no workflow run to be queued or in progress",
        lambda: [
            (run["id"], status)
            for status in ("queued", "in_progress")
            for run in github.list_runs(world.repo, status=status)
        ],
        lambda unfinished: not unfinished,
        timeout=world.timeout,
        describe=lambda unfinished: f"runs (id, status): {unfinished}",
    )


def unfinished_jobs(world: World) -> list[JobView]:
    """Jobs of every run of the repository that are not completed, by the jobs API."""
    run_ids = [int(run["id"]) for run in world.stack.github.list_runs(world.repo)]
    return [job for job in world.stack.observer.jobs(run_ids) if job.status != "completed"]
