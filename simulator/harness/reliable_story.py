"""What the reliability steps expect; each expectation polls GitHub's and Nomad's real APIs.

Runs on the replicated stack (simulator/harness/replicas.py): two `rod serve` replicas whose
reconcilers tick every second.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from simulator.harness import checks, faults, story
from simulator.harness.dispatcher import DispatcherProcess
from simulator.harness.github_client import GitHubControl
from simulator.harness.idle import await_dispatchers_idle, await_settled
from simulator.harness.observe import JobView, Snapshot
from simulator.harness.replicas import ReplicatedSimBackend
from simulator.harness.waiting import wait_for
from simulator.harness.world import World


def replicated(world: World) -> ReplicatedSimBackend:
    """The scenario's replicated backend (@fixture.reliable_stack)."""
    backend = world.stack.backend
    assert isinstance(backend, ReplicatedSimBackend), (
        f"this feature needs @fixture.reliable_stack, the stack runs {type(backend).__name__}"
    )
    return backend


def replicas(world: World) -> list[DispatcherProcess]:
    """The `rod serve` replicas of the scenario's stack."""
    return replicated(world).replicas


def _job_deliveries(world: World, hook_id: int, job: JobView) -> list[dict[str, Any]]:
    """The `queued` deliveries of `job` to one hook, with request and response, oldest first."""
    github = world.stack.github
    found = []
    for item in reversed(github.list_deliveries(world.repo, hook_id)):
        if item["event"] != "workflow_job" or item["action"] != "queued":
            continue
        detail = github.get_delivery(world.repo, hook_id, item["id"])
        if detail["request"]["payload"]["workflow_job"]["id"] == job.id:
            found.append(detail)
    return found


def await_deliveries(
    world: World, job: JobView, *, count: int, redelivered: int = 0, hook_id: int | None = None
) -> list[dict[str, Any]]:
    """GitHub sent the job's queued event `count` times to the hook, every one answered 2xx."""
    hook = hook_id if hook_id is not None else world.stack.hook_id
    assert hook is not None, "no webhook was created"

    def problems(deliveries: list[dict[str, Any]]) -> list[str]:
        answered = [d for d in deliveries if d["status_code"]]
        found = [
            f"{len(answered)} of {len(deliveries)} deliveries answered, expected {count}",
            f"{sum(d['redelivery'] for d in deliveries)} redeliveries, expected {redelivered}",
        ]
        ok = len(answered) == count and found[1].startswith(f"{redelivered} ")
        return [] if ok else found

    deliveries = wait_for(
        f"{count} answered deliveries of job {job.id} to hook {hook}",
        lambda: _job_deliveries(world, hook, job),
        lambda deliveries: not problems(deliveries),
        timeout=world.timeout,
        describe=lambda deliveries: "; ".join(problems(deliveries)),
    )
    refused = [d for d in deliveries if not 200 <= d["status_code"] < 300]
    assert not refused, f"the dispatcher refused: {[d['response']['payload'] for d in refused]}"
    guids = {d["guid"] for d in deliveries}
    assert len(guids) == 1, f"one event was delivered as {len(guids)} different GUIDs"
    return deliveries


def redeliver_queued(world: World, job: JobView) -> dict[str, Any]:
    """Redeliver the job's answered queued delivery through the REST API; wait for the answer."""
    (first,) = await_deliveries(world, job, count=1)
    hook_id = world.stack.hook_id
    assert hook_id is not None
    endpoints = world.stack.endpoints
    faults.redeliver(endpoints.github_url, endpoints.github_token, world.repo, hook_id, first["id"])
    return await_deliveries(world, job, count=2, redelivered=1)[-1]


def expect_dropped(world: World, job: JobView) -> None:
    """GitHub logged the job's queued delivery as never sent: the dispatcher never heard of it."""
    hook_id = world.stack.hook_id
    assert hook_id is not None
    deliveries = wait_for(
        f"GitHub to log the queued delivery of job {job.id}",
        lambda: _job_deliveries(world, hook_id, job),
        lambda found: bool(found),
        timeout=world.timeout,
    )
    answered = [d["status_code"] for d in deliveries if d["status_code"]]
    assert not answered, f"the queued event of job {job.id} reached the dispatcher: {answered}"


def one_runner_per_job_problems(snapshot: Snapshot, world: World) -> list[str]:
    """Each job completed on a fresh runner we dispatched for it, and no Nomad child is extra."""
    seen = world.stack.observer.ledger.seen.values()
    problems = []
    for job in snapshot.jobs:
        problems += checks.fresh_runner_problems(snapshot, job, seen, world.repo)
    ours = {job.id for job in snapshot.jobs}
    extra = [c.id for c in snapshot.children if c.github_job_id not in ours]
    if extra:
        problems.append(f"Nomad children for no job of the scenario: {extra}")
    return problems


def await_one_runner_per_job(world: World) -> Snapshot:
    """Every job ran on a runner of its own, and still so once nothing more is coming."""
    assert world.run_ids, "no workflow run was started"
    story._poll(
        world,
        "every job to run on a fresh runner of its own",
        lambda s: one_runner_per_job_problems(s, world),
    )
    await_settled(world)
    # A late duplicate or a reconciler's runner shows up only once all is settled: look again.
    snapshot = world.stack.observer.snapshot(world.run_ids)
    problems = one_runner_per_job_problems(snapshot, world)
    assert not problems, f"{'; '.join(problems)} | {snapshot.describe()}"
    assert len(snapshot.children) == len(snapshot.jobs), snapshot.describe()
    return snapshot


def kill_while_runners_wait(
    world: World, count: int, process: DispatcherProcess | None = None
) -> Snapshot:
    """SIGKILL the first replica (or `process`) while `count` runners it registered wait for
    their Nomad child.

    That is: `count` runners on GitHub without a child, and every injected Nomad fault in use
    (their dispatch requests hang). Their credentials die with the replica: those runners will
    never start. Fails unless the kill came before every job had a Nomad child.
    """
    nomad_url = world.stack.endpoints.nomad_url

    def waiting(snapshot: Snapshot) -> list[str]:
        started = {child.runner_name for child in snapshot.children}
        return [r.name for r in snapshot.runners if r.name not in started]

    observer = world.stack.observer
    wait_for(
        f"{count} runners registered on GitHub whose dispatch hangs in Nomad",
        lambda: (observer.snapshot(world.run_ids), faults.nomad_faults_left(nomad_url)),
        lambda seen: len(waiting(seen[0])) >= count and seen[1] == 0,
        timeout=world.timeout,
        describe=lambda seen: f"{seen[1]} Nomad fault uses left | {seen[0].describe()}",
    )
    (process or replicas(world)[0]).kill()
    snapshot = observer.snapshot(world.run_ids)
    assert len(snapshot.children) < len(snapshot.jobs), (
        f"every job had a Nomad child before the kill: {snapshot.describe()}"
    )
    return snapshot


def restart_first_replica(world: World) -> None:
    """Start the killed first replica again on its port; it knows nothing of its past life."""
    replica = replicas(world)[0]
    assert not replica.alive(), "the first replica is still running"
    replica.start(world.timeout)


def await_served_once(world: World) -> Snapshot:
    """Every job ran once on a fresh runner of ours, and every runner we started ran a job, and
    still so once nothing more is coming."""
    assert world.run_ids, "no workflow run was started"
    seen = world.stack.observer.ledger.seen.values

    def problems(snapshot: Snapshot) -> list[str]:
        return checks.served_once_problems(snapshot, seen())

    story._poll(world, "every job to run once, on a runner started for it", problems)
    await_settled(world)
    # A late duplicate or a reconciler's runner shows up only once all is settled: look again.
    snapshot = world.stack.observer.snapshot(world.run_ids)
    found = problems(snapshot)
    assert not found, f"{'; '.join(found)} | {snapshot.describe()}"
    assert len(snapshot.children) == len(snapshot.jobs), snapshot.describe()
    return snapshot


def cancel(world: World, job: JobView) -> JobView:
    """Cancel the job; GitHub's REST API then shows it completed/cancelled, never picked up."""
    faults.cancel_job(world.stack.endpoints.github_url, job.id)
    (now,) = [j for j in world.stack.observer.jobs([job.run_id]) if j.id == job.id]
    assert (now.status, now.conclusion) == ("completed", "cancelled"), f"job {job.id}: {now}"
    assert not now.runner_name, f"job {job.id} was already picked up by {now.runner_name}"
    world.job = now
    return now


def await_nothing_left_for(world: World, job: JobView) -> None:
    """Nothing serves the cancelled job: no runner, no live child, and it never ran.

    Whether a runner was made for it (the reconciler may list it before the cancellation) and
    then withdrawn or retired, or never made (the `completed` came before the late `queued`),
    the cluster is back to zero.
    """

    def problems(snapshot: Snapshot) -> list[str]:
        found = checks.drained_problems(snapshot)
        children = snapshot.children_for_job(job.id)
        return found + [f"{c.id} is {c.status}, not dead" for c in children if c.status != "dead"]

    # The late `queued` delivery must have come and been handled, or "nothing" proves nothing.
    github = GitHubControl(world.stack.endpoints.github_url)
    try:
        github.flush_deliveries(world.timeout)
    finally:
        github.close()
    await_dispatchers_idle(world)

    snapshot = story._poll(world, f"nothing left for the cancelled job {job.id}", problems)
    cancelled = snapshot.job(job.id)
    assert cancelled is not None and not cancelled.runner_name, f"job {job.id} ran: {cancelled}"


def expect_late_queued_started_nothing(world: World, job: JobView) -> None:
    """The cancelled job's late `queued` delivery was answered 2xx with no runner queued.

    The answer names what became of it: `{"ended": ...}` (the job had ended) or
    `{"duplicate": ...}` (a reconciler had already made its runner); `{"queued": ...}` starts a
    runner for a job that will never run, which the end state hides once the reconciler has
    retired it. `await_nothing_left_for` flushed the deliveries first.
    """
    (late,) = await_deliveries(world, job, count=1)
    answer = json.loads(late["response"]["payload"] or "{}")
    assert "queued" not in answer, f"the late queued delivery of job {job.id} started {answer}"


def reconciler_actions(world: World, action: str) -> int:
    """How many `action` ("dispatch" or "retire") the replicas' reconcilers carried out.

    A dispatch is carried out when queued, a retirement when retired (loop.ActionResult); not
    when the pipeline already had the runner (duplicate), nor when busy, deferred or failed.
    """
    total = 0.0
    for replica in replicas(world):
        text = world.tape.record(httpx.get(f"{replica.url}/metrics", timeout=5)).text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                labels = sample.labels
                if (
                    sample.name == "rod_reconcile_actions_total"
                    and labels.get("action") == action
                    and labels.get("result") in ("queued", "retired")
                ):
                    total += sample.value
    return int(total)


def expect_nomad_refused(world: World, count: int, status: int) -> None:
    """Nomad answered `status` to `count` dispatch calls, then dispatched again (2xx)."""
    answers = faults.nomad_answers(world.stack.endpoints.nomad_url, faults.DISPATCH_ROUTE)
    refused = answers.count(status)
    assert refused == count, f"Nomad refused {refused} dispatch calls, expected {count}: {answers}"
    assert answers and 200 <= answers[-1] < 300, (
        f"no dispatch succeeded after the outage: {answers}"
    )


def add_replica(world: World) -> int:
    """Start one more replica and give it a signed `workflow_job` hook; return the hook's ID."""
    replica = replicated(world).add_replica()
    secret = world.stack.endpoints.webhook_secret
    hook = world.stack.github.create_hook(world.repo, replica.webhook_url, secret)
    return int(hook["id"])


def replica_hook_ids(world: World) -> list[int]:
    """The repository's hooks that deliver to a replica, in replica order (else the stack's)."""
    if not isinstance(world.stack.backend, ReplicatedSimBackend):
        assert world.stack.hook_id is not None, "the stack made no hook"
        return [world.stack.hook_id]
    by_url = {h["config"]["url"]: int(h["id"]) for h in world.stack.github.list_hooks(world.repo)}
    urls = [replica.webhook_url for replica in replicas(world)]
    return [by_url[url] for url in urls if url in by_url]


def expect_forged_refused(world: World, how: str, response: httpx.Response) -> None:
    """The dispatcher answered 401, and GitHub and Nomad were never asked for a runner."""
    assert response.status_code == 401, (
        f"a webhook with {how} was answered {response.status_code}: {response.text[:200]}"
    )
    endpoints = world.stack.endpoints
    await_dispatchers_idle(world)
    # Only the sim backend's reset empties Nomad's request log (the deployed one keeps the rod
    # job, and its log, across scenarios); elsewhere a dispatched child shows below.
    if world.stack.backend.name == "sim":
        dispatches = faults.nomad_answers(endpoints.nomad_url, faults.DISPATCH_ROUTE)
        assert not dispatches, f"Nomad was asked to dispatch: {dispatches}"
    made = faults.github_calls(endpoints.github_url, "POST", "/repos/*/actions/runners/*")
    assert not made, f"GitHub was asked for {made} runner credentials"
    snapshot = world.stack.observer.snapshot()
    problems = [f"Nomad child {c.id}" for c in snapshot.children]
    problems += [f"runner {r.name}" for r in snapshot.runners]
    assert not problems, f"a forged webhook made {problems}"
