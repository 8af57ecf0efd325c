"""The `/_sim/` control plane: repos, runs, cancel, clock, faults, state, reset, request log."""

from __future__ import annotations

from tests.simulator.github.conftest import REPO, GitHub, Receiver


async def test_repos_can_be_added_and_are_then_listed(github: GitHub) -> None:
    made = await github.client.post("/_sim/repos", json={"full_name": "acme/lib", "private": True})
    assert made.status_code == 201 and made.json()["private"] is True
    names = [r["full_name"] for r in (await github.client.get("/user/repos")).json()]
    assert "acme/lib" in names
    again = await github.client.post("/_sim/repos", json={"full_name": "acme/lib"})
    assert again.status_code == 422
    bad = await github.client.post("/_sim/repos", json={"full_name": "no-slash"})
    assert bad.status_code == 422


async def test_a_run_needs_valid_jobs(github: GitHub) -> None:
    path = f"/_sim/repos/{REPO}/runs"
    assert (await github.client.post(path, json={"jobs": []})).status_code == 422
    assert (await github.client.post(path, json={"jobs": [{"name": "x"}]})).status_code == 422
    assert (
        await github.client.post(
            "/_sim/repos/acme/nope/runs", json={"jobs": [{"name": "x", "labels": ["a"]}]}
        )
    ).status_code == 404
    state = (await github.client.get("/_sim/state")).json()
    assert state["runs"] == [] and state["jobs"] == []


async def test_waiting_jobs_are_queued_on_approval(github: GitHub, receiver: Receiver) -> None:
    hook = {"config": {"url": receiver.url, "content_type": "json"}, "events": ["workflow_job"]}
    await github.client.post(f"/repos/{REPO}/hooks", json=hook)
    run = await github.run({"name": "deploy", "labels": ["a"], "waiting": True})
    job_id = run["jobs"][0]["id"]
    approved = await github.client.post(f"/_sim/jobs/{job_id}/approve")
    assert approved.json()["status"] == "queued"
    assert github.backend.deliverer.wait_idle()
    # As GitHub: `queued` while it awaits approval (status `waiting`), `waiting`, then `queued`.
    sent = [(p["action"], p["workflow_job"]["status"]) for p in receiver.payloads()]
    assert sent == [("queued", "waiting"), ("waiting", "waiting"), ("queued", "queued")]


async def test_cancel_twice_is_409(github: GitHub) -> None:
    run = await github.run({"name": "build", "labels": ["a"]})
    job_id = run["jobs"][0]["id"]
    assert (await github.client.post(f"/_sim/jobs/{job_id}/cancel")).status_code == 200
    assert (await github.client.post(f"/_sim/jobs/{job_id}/cancel")).status_code == 409
    assert (await github.client.post("/_sim/jobs/1/cancel")).status_code == 404


async def test_clock_moves_forward_only(github: GitHub) -> None:
    before = (await github.client.get("/_sim/clock")).json()["now"]
    after = (await github.client.post("/_sim/clock", json={"advance_seconds": 100})).json()["now"]
    assert after - before >= 100
    back = await github.client.post("/_sim/clock", json={"advance_seconds": -1})
    assert back.status_code == 400


async def test_webhook_fault_validation(github: GitHub) -> None:
    ok = await github.client.post("/_sim/webhooks/faults", json={"mode": "drop", "count": 2})
    assert ok.status_code == 201 and ok.json()["count"] == 2
    bad = await github.client.post("/_sim/webhooks/faults", json={"mode": "explode"})
    assert bad.status_code == 400


async def test_route_faults_and_request_log(github: GitHub) -> None:
    fault = {
        "method": "POST",
        "path": "/repos/*/*/actions/runners/generate-jitconfig",
        "status": 503,
        "count": 1,
    }
    assert (await github.client.post("/_sim/faults", json=fault)).status_code == 201
    body = {"name": "r", "runner_group_id": 1, "labels": ["a"]}
    path = f"/repos/{REPO}/actions/runners/generate-jitconfig"
    assert (await github.client.post(path, json=body)).status_code == 503
    assert (await github.client.post(path, json=body)).status_code == 201
    log = (await github.client.get("/_sim/requests", params={"path": path})).json()
    assert [r["status"] for r in log] == [503, 201]


async def test_state_hides_secrets_and_reset_forgets(github: GitHub, receiver: Receiver) -> None:
    hook = {"config": {"url": receiver.url, "secret": "hunter2"}, "events": ["workflow_job"]}
    await github.client.post(f"/repos/{REPO}/hooks", json=hook)
    _, secret = await github.jit("r1", ["a"])
    await github.run({"name": "build", "labels": ["a"]})
    state = (await github.client.get("/_sim/state")).json()
    text = str(state)
    assert "hunter2" not in text and secret not in text
    assert len(state["runners"]) == 1 and len(state["jobs"]) == 1 and len(state["hooks"]) == 1
    assert (await github.client.post("/_sim/reset")).status_code == 204
    state = (await github.client.get("/_sim/state")).json()
    assert (state["runners"], state["jobs"], state["hooks"]) == ([], [], [])
    assert state["repos"] == sorted([REPO, "octo-user/tool"])


async def test_reset_never_reuses_an_id(github: GitHub, receiver: Receiver) -> None:
    hook = {"config": {"url": receiver.url}, "events": ["workflow_job"]}

    async def ids() -> tuple[int, int, int, int]:
        made = (await github.client.post(f"/repos/{REPO}/hooks", json=hook)).json()
        runner, _ = await github.jit("r1", ["a"])
        run = await github.run({"name": "build", "labels": ["a"]})
        return made["id"], runner, run["id"], run["jobs"][0]["id"]

    before = await ids()
    assert (await github.client.post("/_sim/reset")).status_code == 204
    after = await ids()
    assert all(new > old for old, new in zip(before, after, strict=True)), (before, after)


async def test_a_token_without_admin_rights_sees_but_cannot_administer(github: GitHub) -> None:
    made = await github.client.post("/_sim/tokens", json={"token": "member", "admin": False})
    assert made.status_code == 201
    member = {"Authorization": "Bearer member"}
    repos = await github.client.get("/orgs/acme/repos", headers=member)
    assert repos.status_code == 200
    assert repos.json()[0]["permissions"] | {"push": True} == {
        "admin": False, "maintain": False, "push": True, "triage": True, "pull": True,
    }  # fmt: skip
    for method, path in [
        ("GET", f"/repos/{REPO}/hooks"),
        ("POST", "/orgs/acme/hooks"),
        ("GET", "/orgs/acme/actions/runners"),
        ("POST", f"/repos/{REPO}/actions/runners/registration-token"),
        ("GET", "/orgs/acme/actions/runner-groups"),
    ]:
        answer = await github.client.request(method, path, headers=member, json={})
        assert (answer.status_code, answer.json()["message"]) == (404, "Not Found"), path
    assert (await github.client.get("/orgs/acme/hooks")).status_code == 200  # the admin token
    again = await github.client.post("/_sim/tokens", json={"token": "member"})
    assert again.status_code == 422


async def test_a_revoked_token_is_bad_credentials_from_then_on(github: GitHub) -> None:
    assert (await github.client.post("/_sim/tokens", json={"token": "gone"})).status_code == 201
    gone = {"Authorization": "Bearer gone"}
    assert (await github.client.get(f"/repos/{REPO}/hooks", headers=gone)).status_code == 200
    assert (await github.client.delete("/_sim/tokens/gone")).status_code == 204
    answer = await github.client.get(f"/repos/{REPO}/hooks", headers=gone)
    assert (answer.status_code, answer.json()["message"]) == (401, "Bad credentials")
    assert (await github.client.delete("/_sim/tokens/gone")).status_code == 404
    assert (await github.client.get(f"/repos/{REPO}/hooks")).status_code == 200  # the others'
