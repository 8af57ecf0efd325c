"""What the steps expect when jobs come in through `rod listen` (`-D intake=listen`).

GitHub tells a listener about a job only when the job's labels belong to its scale set, and only
through the message queue: what the webhook path checks in the deliveries log is checked here in
the scale set's runner requests (`/_sim/scalesets`). A scale-set runner is not made for one job,
so a job's Nomad child is the one that started the runner the job ran on.
"""

from __future__ import annotations

from typing import Any

import httpx

from simulator.harness import checks
from simulator.harness.dispatcher import DispatcherProcess, metric, wait_idle
from simulator.harness.intake import SCALE_SET, SCALE_SET_LABELS
from simulator.harness.observe import JobView
from simulator.harness.waiting import wait_for
from simulator.harness.world import World

# A runner request past this point was acquired by the listener (simulator/github/scaleset.py).
HEARD = ("acquired", "assigned", "running", "completed")


def listening(world: World) -> bool:
    """Whether the scenario's stack takes jobs through `rod listen`."""
    return world.stack.settings.intake == "listen"


def scale_set(world: World) -> dict[str, Any] | None:
    """The repository's scale set as the emulator shows it, if it exists."""
    for found in world.stack.control.scale_sets():
        if found["scope"] == world.repo and found["name"] == SCALE_SET:
            return found
    return None


def expect_scale_set_session(world: World) -> dict[str, Any]:
    """The repository's scale set carries the scenarios' labels and one session holds it."""
    found = scale_set(world)
    assert found is not None, f"{world.repo} has no scale set {SCALE_SET}"
    labels = {label["name"] for label in found["labels"]}
    assert labels >= set(SCALE_SET_LABELS), f"scale set labels: {sorted(labels)}"
    assert len(found["sessions"]) == 1, f"sessions on {SCALE_SET}: {found['sessions']}"
    return found


def request_for(world: World, job: JobView) -> dict[str, Any] | None:
    """The scale set's latest runner request for `job`, if it was offered one."""
    found = scale_set(world)
    requests = [r for r in (found or {}).get("requests", []) if r["job_id"] == job.id]
    return requests[-1] if requests else None


def covered(job: JobView) -> bool:
    """Whether the scale set takes `job` (every label of the job is one of its labels)."""
    return not checks.missing_labels(job.labels, SCALE_SET_LABELS) and bool(job.labels)


def expect_heard(world: World, job: JobView) -> dict[str, Any] | None:
    """The listener heard of the job as the protocol allows: acquired if the scale set takes
    it; if not, GitHub never offered it while the listener kept polling."""
    if not covered(job):
        expect_not_offered(world, job)
        return None
    found = wait_for(
        f"the listener to acquire job {job.id}",
        lambda: request_for(world, job),
        lambda request: request is not None and request["state"] in HEARD,
        timeout=world.timeout,
        describe=lambda request: f"runner request: {request}",
    )
    assert found is not None
    return found


def expect_not_offered(world: World, job: JobView) -> str:
    """Two polls of the listener went by after the job was queued, and none offered it."""
    url = f"{world.stack.endpoints.dispatcher_url}/metrics"
    before = polls(world.tape.record(httpx.get(url, timeout=5)).text)
    wait_for(
        "the listener to poll twice more",
        lambda: polls(world.tape.record(httpx.get(url, timeout=5)).text),
        lambda now: now >= before + 2,
        timeout=world.timeout,
        describe=lambda now: f"{now - before} polls answered",
    )
    request = request_for(world, job)
    assert request is None, f"job {job.id} was offered to the scale set: {request}"
    return f"labels: {list(job.labels)} are not all the scale set's {list(SCALE_SET_LABELS)}"


def polls(metrics_text: str) -> float:
    """Polls of the message queue the listener finished (any outcome)."""
    return metric(metrics_text, "rod_listen_polls_total")


def expect_no_child(world: World) -> None:
    """No Nomad child and no runner exists at all, once the listener carried out what it queued."""
    wait_idle(listener(world).url, world.timeout, world.tape.record)
    snapshot = world.stack.observer.snapshot(world.run_ids)
    problems = [f"Nomad child {child.id} was dispatched" for child in snapshot.children]
    problems += [f"runner {runner.name} is registered" for runner in snapshot.runners]
    assert not problems, f"{'; '.join(problems)} | {snapshot.describe()}"


def listener(world: World) -> DispatcherProcess:
    """The scenario's `rod listen` process."""
    process = getattr(world.stack.backend, "dispatcher", None)
    assert isinstance(process, DispatcherProcess) and process.command == "listen", (
        "this feature needs -D intake=listen"
    )
    return process


# --- reliability (features/listen/) ------------------------------------------------------------


def listener_metric(world: World, name: str, **labels: str) -> float:
    """One series of the listener's /metrics, summed over the samples matching `labels`."""
    text = httpx.get(f"{listener(world).url}/metrics", timeout=5).text
    return metric(text, name, **labels)


def session_id(world: World) -> str:
    """The id of the one session on the repository's scale set."""
    return str(expect_scale_set_session(world)["sessions"][0]["sessionId"])


def await_session_refused(world: World) -> str:
    """The restarted listener asked for a session and GitHub answered 409: the old one lives."""
    process = listener(world)
    ready = wait_for(
        "GitHub to refuse the restarted listener a session",
        lambda: httpx.get(f"{process.url}/readyz", timeout=5),
        lambda response: "already has an active session" in response.text,
        timeout=world.timeout,
        transient=(httpx.TransportError,),
        describe=lambda response: f"/readyz answered {response.status_code}: {response.text}",
    )
    assert ready.status_code == 503, f"/readyz answered {ready.status_code} without a session"
    assert listener_metric(world, "rod_listen_sessions_total", outcome="conflict") >= 1
    return ready.text


def expire_old_session(world: World) -> None:
    """Let the crashed listener's session expire: GitHub's clock moves past its timeout."""
    settings = httpx.get(f"{world.stack.endpoints.github_url}/_sim/scalesets/config", timeout=5)
    world.stack.control.advance_clock(float(settings.json()["session_timeout"]) + 1)


def expire_tokens(world: World) -> str:
    """The queue token (50 min) and the admin token (1 h) expire while the listener's poll is
    held; the session itself is kept alive. Returns the session's id."""
    held = session_id(world)
    github_url = world.stack.endpoints.github_url
    response = httpx.post(
        f"{github_url}/_sim/scalesets/config", json={"session_timeout": 86_400}, timeout=5
    )
    assert response.status_code == 200, response.text
    lifetimes = response.json()
    world.stack.control.advance_clock(
        max(lifetimes["queue_token_lifetime"], lifetimes["admin_token_lifetime"]) + 1
    )
    return held


def lose_next_poll(world: World, seconds: float) -> None:
    """GitHub keeps the listener's next poll without answering for `seconds`; returns once that
    poll has begun (the job queued next can only reach the listener on a later poll)."""
    github_url = world.stack.endpoints.github_url
    body = {
        "method": "GET",
        "path": "/_services/broker/scalesets/message",
        "count": 1,
        "status": 503,
        "hang_seconds": seconds,
    }
    response = httpx.post(f"{github_url}/_sim/faults", json=body, timeout=5)
    assert response.status_code in (200, 201), response.text
    wait_for(
        "the listener's next poll to begin",
        lambda: httpx.get(f"{github_url}/_sim/faults", timeout=5).json(),
        lambda pending: not pending,
        timeout=world.timeout,
        describe=lambda pending: f"faults pending: {pending}",
    )


def await_listener_metric(world: World, name: str, above: float, **labels: str) -> float:
    """Wait until the listener's series `name` (with `labels`) passes `above`."""
    return wait_for(
        f"the listener's {name}{labels} to pass {above}",
        lambda: listener_metric(world, name, **labels),
        lambda value: value > above,
        timeout=world.timeout,
        describe=lambda value: f"it is {value}",
    )


def reassign_before_pickup(world: World, job: JobView, to: str) -> dict[str, Any]:
    """Once the job is assigned to the scale set and no runner has it, GitHub takes it back."""
    wait_for(
        f"job {job.id} to be assigned to the scale set, its runner not yet started",
        lambda: (request_for(world, job), world.stack.observer.children()),
        lambda seen: seen[0] is not None and seen[0]["state"] == "assigned" and not seen[1],
        timeout=world.timeout,
        describe=lambda seen: f"request {seen[0]}; {len(seen[1])} Nomad children",
    )
    return world.stack.control.reassign(job.id, to)


def await_acquired_again(world: World, job: JobView) -> dict[str, Any]:
    """The listener acquired the job once more after GitHub offered it again."""
    found = wait_for(
        f"the listener to acquire job {job.id} again",
        lambda: request_for(world, job),
        lambda request: (
            request is not None and request["reassignments"] == 1 and request["state"] in HEARD
        ),
        timeout=world.timeout,
        describe=lambda request: f"runner request: {request}",
    )
    assert found is not None
    return found
