"""Every emulated route, and every webhook payload, validated against GitHub's OpenAPI subset.

The subset is simulator/github/openapi/{rest,webhooks}.json, regenerated from the npm packages
`@octokit/openapi` and `@octokit/openapi-webhooks` by scripts/refresh_github_openapi.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import ValidationError
from openapi_schema_validator import (
    OAS30Validator,
    OAS31Validator,
    oas30_format_checker,
    oas31_format_checker,
)
from starlette.routing import Route

from simulator.github.routes import REST_ROUTES
from tests.simulator.github.conftest import REPO, GitHub, Receiver, jit_secret

SPEC_DIR = Path(__file__).resolve().parents[3] / "simulator" / "github" / "openapi"
REST = json.loads((SPEC_DIR / "rest.json").read_text())
WEBHOOKS = json.loads((SPEC_DIR / "webhooks.json").read_text())
JOB_WEBHOOKS = {
    "queued": "workflow-job-queued",
    "in_progress": "workflow-job-in-progress",
    "completed": "workflow-job-completed",
}


def deref(node: Any, spec: dict[str, Any], depth: int = 0) -> Any:
    """Inline `#/components/...` references (the subset has no cycles deeper than this)."""
    assert depth < 40, "reference cycle"
    if isinstance(node, dict):
        if "$ref" in node:
            _, _, kind, name = node["$ref"].split("/", 3)
            return deref(spec["components"][kind][name], spec, depth + 1)
        out = {k: deref(v, spec, depth + 1) for k, v in node.items()}
        if out.get("nullable") and "enum" in out and None not in out["enum"]:
            # GitHub's 3.0 description marks e.g. job.conclusion `nullable` but leaves null out
            # of its enum; OpenAPI 3.0.3 wants null listed, so add it (null is what GitHub sends).
            out["enum"] = [*out["enum"], None]
        return out
    if isinstance(node, list):
        return [deref(v, spec, depth + 1) for v in node]
    return node


def check_rest(template: str, method: str, response: httpx.Response) -> None:
    """The status is one the operation documents, and the body matches its schema."""
    operation = REST["paths"][template][method.lower()]
    documented = operation["responses"]
    assert str(response.status_code) in documented, (template, method, response.text)
    answer = deref(documented[str(response.status_code)], REST)
    schema = answer.get("content", {}).get("application/json", {}).get("schema")
    if schema is None:
        assert response.content == b""
        return
    OAS30Validator(schema, format_checker=oas30_format_checker).validate(response.json())


def check_webhook(name: str, payload: dict[str, Any]) -> None:
    """A delivered payload matches the webhook's request body schema."""
    body = WEBHOOKS["webhooks"][name]["post"]["requestBody"]["content"]["application/json"]
    schema = deref(body["schema"], WEBHOOKS)
    OAS31Validator(schema, format_checker=oas31_format_checker).validate(payload)


class Calls:
    """Calls the emulator, validates each answer, and remembers which operations it covered."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.covered: set[tuple[str, str]] = set()

    async def __call__(self, method: str, template: str, status: int, **kw: Any) -> Any:
        params = {k: v for k, v in kw.items() if k not in ("json", "query", "headers")}
        path = template.format(**{"owner": "acme", "repo": "app", "org": "acme", **params})
        response = await self.client.request(
            method, path, json=kw.get("json"), params=kw.get("query"), headers=kw.get("headers")
        )
        assert response.status_code == status, (method, path, response.text)
        check_rest(template, method, response)
        self.covered.add((template, method.lower()))
        return response.json() if response.content else None


def test_the_subset_is_exactly_the_emulated_routes() -> None:
    emulated = {
        (route.path.replace(":int", ""), method.lower())
        for route in REST_ROUTES
        if isinstance(route, Route)
        for method in route.methods or ()
        if method != "HEAD"
    }
    documented = {(p, m) for p, item in REST["paths"].items() for m in item}
    assert emulated == documented
    assert REST["info"]["x-source"].startswith("@octokit/openapi@")


async def test_every_route_answers_as_documented(
    github: GitHub, receiver: Receiver, app_key: tuple[str, str]
) -> None:
    call = Calls(github.client)
    await _repository_routes(call, github, receiver, app_key)
    await _org_routes(call, github, receiver)
    documented = {(p, m) for p, item in REST["paths"].items() for m in item}
    assert call.covered == documented


async def _repository_routes(
    call: Calls, github: GitHub, receiver: Receiver, app_key: tuple[str, str]
) -> None:
    import jwt

    runners, org_runners = "/repos/{owner}/{repo}/actions/runners", "/orgs/{org}/actions/runners"
    for base in (runners, org_runners):
        await call("POST", f"{base}/registration-token", 201)
        await call("POST", f"{base}/remove-token", 201)
        jit = {"name": f"r-{base[1]}", "runner_group_id": 1, "labels": ["self-hosted"]}
        made = await call("POST", f"{base}/generate-jitconfig", 201, json=jit)
        await call("POST", f"{base}/generate-jitconfig", 409, json=jit)
        await call("POST", f"{base}/generate-jitconfig", 422, json={"name": "x", "labels": ["a"]})
        await call("GET", base, 200, query={"per_page": 1})
        await call("GET", f"{base}/{{runner_id}}", 200, runner_id=made["runner"]["id"])
        await call("DELETE", f"{base}/{{runner_id}}", 204, runner_id=made["runner"]["id"])
    hook_body = {"config": {"url": receiver.url, "content_type": "json", "secret": "s"}}
    hook = await call("POST", "/repos/{owner}/{repo}/hooks", 201, json=hook_body)
    hook_path = "/repos/{owner}/{repo}/hooks/{hook_id}"
    await call("GET", "/repos/{owner}/{repo}/hooks", 200)
    await call("GET", hook_path, 200, hook_id=hook["id"])
    await call("GET", hook_path, 404, hook_id=1)
    await call("PATCH", hook_path, 200, hook_id=hook["id"], json={"events": ["workflow_job"]})
    await call("POST", f"{hook_path}/pings", 204, hook_id=hook["id"])
    run = await github.run({"name": "build", "labels": ["self-hosted"]})
    runner_id, secret = await github.jit("worker", ["self-hosted"])
    bearer = {"Authorization": f"Bearer {secret}"}
    session = (await github.client.post("/_actions/sessions", headers=bearer)).json()
    job = (
        await github.client.get(f"/_actions/sessions/{session['session_id']}/job", headers=bearer)
    ).json()
    await call("DELETE", f"{runners}/{{runner_id}}", 422, runner_id=runner_id)
    await call("GET", "/repos/{owner}/{repo}/actions/jobs/{job_id}", 200, job_id=job["job_id"])
    await call("GET", "/repos/{owner}/{repo}/actions/runs", 200, query={"status": "in_progress"})
    await call("GET", "/repos/{owner}/{repo}/actions/runs/{run_id}/jobs", 200, run_id=run["id"])
    await github.client.post(
        f"/_actions/jobs/{job['job_id']}/complete", json={"conclusion": "success"}, headers=bearer
    )
    await call("GET", "/repos/{owner}/{repo}/actions/runs", 200)
    await _deliveries_then_delete(call, github, hook_path, hook["id"])
    await call("GET", "/user/repos", 200, query={"per_page": 1})
    await call("GET", "/user/repos", 422, query={"type": "all", "visibility": "all"})
    await call("GET", "/orgs/{org}/repos", 200)
    await call("GET", "/rate_limit", 200)
    claims = {"iat": 0, "exp": 0, "iss": "4242"}
    now = int(github.backend.clock.now())
    claims |= {"iat": now - 60, "exp": now + 540}
    app = {"Authorization": f"Bearer {jwt.encode(claims, app_key[0], algorithm='RS256')}"}
    found = await call("GET", "/repos/{owner}/{repo}/installation", 200, headers=app)
    by_org = await call("GET", "/orgs/{org}/installation", 200, headers=app)
    assert by_org["id"] == found["id"]  # one installation per account
    itself = await call("GET", "/app", 200, headers=app)
    # installed on both accounts that own a repository; owned by the token's user
    assert (itself["id"], itself["installations_count"]) == (4242, 2)
    assert itself["owner"]["login"] == "octo-user"
    tokens = "/app/installations/{installation_id}/access_tokens"
    await call("POST", tokens, 201, installation_id=found["id"], headers=app)
    await call("POST", tokens, 401, installation_id=found["id"])
    await call("POST", tokens, 404, installation_id=1, headers=app)


async def _deliveries_then_delete(
    call: Calls, github: GitHub, hook_path: str, hook_id: int
) -> None:
    """List, get and redeliver a hook's deliveries, then delete the hook."""
    assert github.backend.deliverer.wait_idle()
    deliveries = f"{hook_path}/deliveries"
    items = await call("GET", deliveries, 200, hook_id=hook_id)
    one = {"hook_id": hook_id, "delivery_id": items[0]["id"]}
    await call("GET", f"{deliveries}/{{delivery_id}}", 200, **one)
    await call("POST", f"{deliveries}/{{delivery_id}}/attempts", 202, **one)
    await call("DELETE", hook_path, 204, hook_id=hook_id)


async def _org_routes(call: Calls, github: GitHub, receiver: Receiver) -> None:
    await call("GET", "/orgs/{org}", 200)
    await call("GET", "/orgs/{org}", 404, org="octo-user")  # a user is no organization
    (repo,) = await call("GET", "/users/{username}/repos", 200, username="acme")
    repo_id = repo["id"]
    groups = "/orgs/{org}/actions/runner-groups"
    group_path = f"{groups}/{{runner_group_id}}"
    await call("GET", groups, 200)
    made = await call(
        "POST",
        groups,
        201,
        json={"name": "gpu", "visibility": "selected", "selected_repository_ids": [repo_id]},
    )
    group = {"runner_group_id": made["id"]}
    await call("GET", group_path, 200, **group)
    await call("PATCH", group_path, 200, json={"name": "gpu", "allows_public_repositories": True},
               **group)  # fmt: skip
    await call("GET", f"{group_path}/repositories", 200, **group)
    await call("PUT", f"{group_path}/repositories", 204, json={"selected_repository_ids": []},
               **group)  # fmt: skip
    one_repo = f"{group_path}/repositories/{{repository_id}}"
    await call("PUT", one_repo, 204, repository_id=repo_id, **group)
    await call("DELETE", one_repo, 204, repository_id=repo_id, **group)
    jit = {"name": "org-gpu", "runner_group_id": made["id"], "labels": ["gpu"]}
    runner = await call("POST", "/orgs/{org}/actions/runners/generate-jitconfig", 201, json=jit)
    missing = {**jit, "name": "org-none", "runner_group_id": made["id"] + 1000}
    await call("POST", "/orgs/{org}/actions/runners/generate-jitconfig", 404, json=missing)
    runner_id = runner["runner"]["id"]
    await call("GET", f"{group_path}/runners", 200, **group)
    await call("PUT", f"{group_path}/runners", 204, json={"runners": [runner_id]}, **group)
    one_runner = f"{group_path}/runners/{{runner_id}}"
    await call("DELETE", one_runner, 204, runner_id=runner_id, **group)
    await call("PUT", one_runner, 204, runner_id=runner_id, **group)
    await call("DELETE", group_path, 204, **group)
    hooks = "/orgs/{org}/hooks"
    hook_path = f"{hooks}/{{hook_id}}"
    config = {"url": receiver.url, "content_type": "json", "secret": "s"}
    await call("POST", hooks, 422, json={"config": config})  # an org hook needs its name
    hook = await call("POST", hooks, 201, json={"name": "web", "config": config,
                                                 "events": ["workflow_job"]})  # fmt: skip
    await call("GET", hooks, 200)
    await call("GET", hook_path, 200, hook_id=hook["id"])
    await call("GET", hook_path, 404, hook_id=1)
    await call("PATCH", hook_path, 200, hook_id=hook["id"], json={"active": True})
    await call("POST", f"{hook_path}/pings", 204, hook_id=hook["id"])
    await call("POST", f"{hook_path}/pings", 404, hook_id=1)
    await _deliveries_then_delete(call, github, hook_path, hook["id"])
    await call("DELETE", hook_path, 404, hook_id=hook["id"])


async def test_webhook_payloads_match_the_schemas(github: GitHub, receiver: Receiver) -> None:
    body = {"config": {"url": receiver.url, "content_type": "json"}, "events": ["workflow_job"]}
    assert (await github.client.post(f"/repos/{REPO}/hooks", json=body)).status_code == 201
    run = await github.run({"name": "a", "labels": ["x"]}, {"name": "b", "labels": ["y"]})
    await github.client.post(f"/_sim/jobs/{run['jobs'][1]['id']}/cancel")
    _, secret = await github.jit("w", ["x"])
    bearer = {"Authorization": f"Bearer {secret}"}
    session = (await github.client.post("/_actions/sessions", headers=bearer)).json()
    job = await github.client.get(f"/_actions/sessions/{session['session_id']}/job", headers=bearer)
    done = {"conclusion": "failure"}
    await github.client.post(
        f"/_actions/jobs/{job.json()['job_id']}/complete", json=done, headers=bearer
    )
    assert github.backend.deliverer.wait_idle()
    check_webhook("ping", json.loads(receiver.events("ping")[0].body))
    payloads = receiver.payloads()
    for payload in payloads:
        check_webhook(JOB_WEBHOOKS[payload["action"]], payload)
    actions = [(p["workflow_job"]["name"], p["action"]) for p in payloads]
    assert actions == [
        ("a", "queued"),
        ("b", "queued"),
        ("b", "completed"),
        ("a", "in_progress"),
        ("a", "completed"),
    ]
    cancelled = payloads[2]["workflow_job"]
    assert (cancelled["conclusion"], cancelled["runner_id"], cancelled["steps"]) == (
        "cancelled",
        None,
        [],
    )
    assert payloads[0]["workflow_job"]["runner_name"] is None
    assert payloads[3]["workflow_job"]["runner_name"] == "w"
    assert payloads[0]["installation"]["id"] > 0 and payloads[0]["repository"]["full_name"] == REPO


@pytest.mark.parametrize("name", ["workflow-job-queued", "workflow-job-completed"])
def test_a_wrong_payload_is_caught(name: str) -> None:
    with pytest.raises(ValidationError):
        check_webhook(name, {"action": "queued", "workflow_job": {"id": 1}})


async def test_org_webhook_payloads_match_the_schemas(github: GitHub, receiver: Receiver) -> None:
    await github.client.post("/_sim/repos", json={"full_name": "acme/secret", "private": True})
    body = {"name": "web", "config": {"url": receiver.url, "content_type": "json"},
            "events": ["workflow_job"]}  # fmt: skip
    hook = (await github.client.post("/orgs/acme/hooks", json=body)).json()
    run = await github.client.post(
        "/_sim/repos/acme/secret/runs", json={"jobs": [{"name": "a", "labels": ["x"]}]}
    )
    jit = {"name": "org-w", "runner_group_id": 1, "labels": ["x"]}
    made = await github.client.post("/orgs/acme/actions/runners/generate-jitconfig", json=jit)
    secret = jit_secret(made.json()["encoded_jit_config"])
    bearer = {"Authorization": f"Bearer {secret}"}
    session = (await github.client.post("/_actions/sessions", headers=bearer)).json()
    job = await github.client.get(f"/_actions/sessions/{session['session_id']}/job", headers=bearer)
    assert job.json()["job_id"] == run.json()["jobs"][0]["id"]
    await github.client.post(
        f"/_actions/jobs/{job.json()['job_id']}/complete", json={"conclusion": "success"},
        headers=bearer,
    )  # fmt: skip
    assert github.backend.deliverer.wait_idle()
    org_id = (await github.client.get("/orgs/acme")).json()["id"]
    for delivery in receiver.received:
        assert delivery.headers["x-github-hook-id"] == str(hook["id"])
        assert delivery.headers["x-github-hook-installation-target-type"] == "organization"
        assert delivery.headers["x-github-hook-installation-target-id"] == str(org_id)
    ping = json.loads(receiver.events("ping")[0].body)
    check_webhook("ping", ping)
    assert ping["organization"]["id"] == org_id and "repository" not in ping
    assert ping["hook"]["type"] == "Organization"
    payloads = receiver.payloads()
    for payload in payloads:
        check_webhook(JOB_WEBHOOKS[payload["action"]], payload)
        assert payload["organization"]["login"] == "acme"
        assert payload["repository"]["full_name"] == "acme/secret"
    assert [p["action"] for p in payloads] == ["queued", "in_progress", "completed"]
    assert payloads[1]["workflow_job"]["runner_group_name"] == "Default"
