"""What the secret rotation steps do and expect: README "Rotating the webhook secret", carried out
on the reliability stack (simulator/harness/replicas.py) and checked through GitHub's delivery
log and the dispatcher's /metrics.
"""

from __future__ import annotations

import subprocess
from typing import Any

import httpx

from simulator.harness import faults
from simulator.harness.dispatcher import clean_environment, metric, rod_command
from simulator.harness.idle import await_dispatchers_idle
from simulator.harness.reliable_story import replicas, replicated
from simulator.harness.world import World

# Counted by `rod serve` for each delivery it took only because GITHUB_WEBHOOK_SECRET_PREVIOUS
# signed it (src/runners_on_demand/metrics.py).
PREVIOUS_SECRET = "rod_webhook_previous_secret_total"


def restart_dispatcher(world: World, *, previous: bool) -> None:
    """README step 1 (`previous`) or step 3: `rod serve` restarted with the new secret, and the
    old one as GITHUB_WEBHOOK_SECRET_PREVIOUS or not at all; the hook's deliveries so far noted."""
    endpoints = world.stack.endpoints
    variables = {"GITHUB_WEBHOOK_SECRET": endpoints.next_webhook_secret}
    if previous:
        variables["GITHUB_WEBHOOK_SECRET_PREVIOUS"] = endpoints.webhook_secret
    world.stack.control.flush_deliveries(world.timeout)
    replicated(world).restart_first(**variables)
    world.deliveries_before = len(_deliveries(world))


def reset_hook_secret(world: World) -> None:
    """README step 2: `rod hooks sync OWNER --url ... --repo NAME --reset-secret`, run as the
    README says, with the new secret; the deliveries signed with the old one so far noted."""
    world.stack.control.flush_deliveries(world.timeout)
    world.signed_with_old = len(_deliveries(world)) - world.deliveries_before
    endpoints = world.stack.endpoints
    owner, name = world.repo.split("/", 1)
    env = clean_environment(
        {
            "GITHUB_TOKEN": endpoints.github_token,
            "GITHUB_API_URL": endpoints.github_url,
            "GITHUB_WEBHOOK_SECRET": endpoints.next_webhook_secret,
        }
    )
    command = [*rod_command(), "hooks", "sync", owner, "--url", endpoints.webhook_url]
    command += ["--repo", name, "--reset-secret", "--no-cache"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=world.timeout)
    assert done.returncode == 0, f"rod hooks sync exited {done.returncode}: {done.stderr.strip()}"
    assert "done: 1 changes, 0 failed" in done.stdout, f"rod hooks sync: {done.stdout.strip()}"


def expect_taken(world: World, *, signed_with_old: int | None = None) -> None:
    """Every delivery since the restart was answered 2xx; the dispatcher counts as signed with
    the old secret those GitHub sent before the hook's secret was reset (all, if it was not)."""
    world.stack.control.flush_deliveries(world.timeout)
    since = _deliveries(world)[world.deliveries_before :]
    refused = [(d["event"], d["status_code"]) for d in since if not 200 <= d["status_code"] < 300]
    assert since, "GitHub sent the dispatcher no delivery since it was restarted"
    assert not refused, f"the dispatcher refused deliveries: {refused}"
    expected = len(since) if signed_with_old is None else signed_with_old
    text = world.tape.record(httpx.get(f"{replicas(world)[0].url}/metrics", timeout=5)).text
    counted = metric(text, PREVIOUS_SECRET)
    assert counted == expected, (
        f"{PREVIOUS_SECRET} is {counted:g}, expected {expected} ({len(since)} deliveries since "
        f"the restart)"
    )


def post_signed_with_old(world: World) -> None:
    """A queued job GitHub never had, signed with the old secret as a hook still holding it would
    sign it; the answer and the dispatches so far noted for the Then."""
    endpoints = world.stack.endpoints
    before = len(faults.nomad_answers(endpoints.nomad_url, faults.DISPATCH_ROUTE))
    forged = faults.ForgedWebhook(world.repo, job_id=424242, labels=("self-hosted",))
    body = forged.body()
    headers = forged.headers(faults.signature(endpoints.webhook_secret, body))
    response = httpx.post(endpoints.webhook_url, content=body, headers=headers, timeout=5)
    world.forged = ("the old secret", world.tape.record(response, "signed with the old secret"))
    world.dispatches_before = before


def expect_refused(world: World) -> None:
    """401, and no dispatch since: the old secret no longer signs anything the dispatcher takes."""
    assert world.forged is not None, "no delivery signed with the old secret was posted"
    how, response = world.forged
    assert response.status_code == 401, (
        f"a delivery signed with {how} was answered {response.status_code}: {response.text[:200]}"
    )
    await_dispatchers_idle(world)
    answers = faults.nomad_answers(world.stack.endpoints.nomad_url, faults.DISPATCH_ROUTE)
    assert len(answers) == world.dispatches_before, (
        f"Nomad was asked for {len(answers) - world.dispatches_before} dispatches since"
    )


def _deliveries(world: World) -> list[dict[str, Any]]:
    """The deliveries GitHub logged for the stack's hook, oldest first."""
    hook_id = world.stack.hook_id
    assert hook_id is not None, "no webhook was created"
    return list(reversed(world.stack.github.list_deliveries(world.repo, hook_id)))
