"""REST handlers: parse the request, call the backend, serialize the result. No rules here."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from simulator.github import org_representations as org_rep
from simulator.github import representations as rep
from simulator.github.auth import Principal
from simulator.github.edge import (
    breaking,
    endpoint,
    json_body,
    paginate,
    paginate_by_cursor,
    path_int,
    require,
)
from simulator.github.errors import ValidationFailed
from simulator.github.models import GitHubBackend
from simulator.github.representations import iso


def _where(request: Request) -> tuple[str, str | None]:
    """(owner, repo) for `/repos/{owner}/{repo}/...`, (org, None) for `/orgs/{org}/...`."""
    params = request.path_params
    if "org" in params:
        return params["org"], None
    return params["owner"], params["repo"]


def _token(token: str, expires_at: float) -> JSONResponse:
    return JSONResponse({"token": token, "expires_at": iso(expires_at)}, status_code=201)


@endpoint(admin=True)
async def create_registration_token(r: Request, b: GitHubBackend, _: Principal) -> Response:
    """POST .../actions/runners/registration-token."""
    return _token(*b.create_registration_token(*_where(r)))


@endpoint(admin=True)
async def create_remove_token(r: Request, b: GitHubBackend, _: Principal) -> Response:
    """POST .../actions/runners/remove-token."""
    return _token(*b.create_remove_token(*_where(r)))


@endpoint(admin=True)
async def generate_jitconfig(r: Request, b: GitHubBackend, _: Principal) -> Response:
    """POST .../actions/runners/generate-jitconfig."""
    body = await json_body(r)
    name = require(body, "name", str)
    group = require(body, "runner_group_id", int)
    labels = require(body, "labels", list)
    if not 1 <= len(labels) <= 100 or not all(isinstance(x, str) and x for x in labels):
        raise ValidationFailed("Invalid request.\n\n'labels' must hold 1 to 100 label names.")
    work_folder = require(body, "work_folder", str) if "work_folder" in body else "_work"
    runner, encoded = b.generate_jitconfig(
        *_where(r), name=name, runner_group_id=group, labels=labels, work_folder=work_folder
    )
    return JSONResponse({"runner": rep.runner(runner), "encoded_jit_config": encoded}, 201)


@endpoint(admin=True)
async def list_runners(r: Request, b: GitHubBackend, _: Principal) -> Response:
    """GET .../actions/runners?name=&per_page=&page=."""
    runners = b.list_runners(*_where(r), name=r.query_params.get("name"))
    page, headers = paginate(r, runners)
    body = {"total_count": len(runners), "runners": [rep.runner(x) for x in page]}
    return JSONResponse(body, headers=headers)


@endpoint(admin=True)
async def get_runner(r: Request, b: GitHubBackend, _: Principal) -> Response:
    """GET .../actions/runners/{runner_id}."""
    return JSONResponse(rep.runner(b.get_runner(*_where(r), path_int(r, "runner_id"))))


@endpoint(admin=True)
async def delete_runner(r: Request, b: GitHubBackend, _: Principal) -> Response:
    """DELETE .../actions/runners/{runner_id}."""
    b.delete_runner(*_where(r), path_int(r, "runner_id"))
    return Response(status_code=204)


@endpoint()
async def get_job(r: Request, b: GitHubBackend, _: Principal) -> Response:
    """GET /repos/{owner}/{repo}/actions/jobs/{job_id}."""
    owner, repo = r.path_params["owner"], r.path_params["repo"]
    job = b.get_job(owner, repo, path_int(r, "job_id"))
    return JSONResponse(rep.job(job, b.get_repo(owner, repo), b.urls, for_webhook=False))


@endpoint()
async def list_runs(r: Request, b: GitHubBackend, _: Principal) -> Response:
    """GET /repos/{owner}/{repo}/actions/runs?status=."""
    owner, repo = r.path_params["owner"], r.path_params["repo"]
    runs = b.list_runs(owner, repo, status=r.query_params.get("status"))
    page, headers = paginate(r, runs)
    found = b.get_repo(owner, repo)
    body = {
        "total_count": len(runs),
        "workflow_runs": [rep.workflow_run(x, found, b.urls, b.user) for x in page],
    }
    return JSONResponse(body, headers=headers)


@endpoint()
async def list_run_jobs(r: Request, b: GitHubBackend, _: Principal) -> Response:
    """GET /repos/{owner}/{repo}/actions/runs/{run_id}/jobs."""
    owner, repo = r.path_params["owner"], r.path_params["repo"]
    jobs = b.list_run_jobs(owner, repo, path_int(r, "run_id"))
    page, headers = paginate(r, jobs)
    found = b.get_repo(owner, repo)
    body = {
        "total_count": len(jobs),
        "jobs": [rep.job(x, found, b.urls, for_webhook=False) for x in page],
    }
    return JSONResponse(body, headers=headers)


def _hook_args(body: dict[str, Any]) -> dict[str, Any]:
    args: dict[str, Any] = {}
    for key, kind in (
        ("events", list),
        ("add_events", list),
        ("remove_events", list),
        ("active", bool),
        ("name", str),
    ):
        if key in body:
            args[key] = require(body, key, kind)
    if "config" in body:
        args["config"] = body["config"]
    return args


@endpoint(admin=True)
async def create_hook(r: Request, b: GitHubBackend, _: Principal) -> Response:
    """POST /repos/{owner}/{repo}/hooks or /orgs/{org}/hooks."""
    args = _hook_args(await json_body(r))
    for key in ("add_events", "remove_events"):
        args.pop(key, None)
    hook = b.create_hook(*_where(r), **args)
    return JSONResponse(hook.to_json(b.urls.api), status_code=201)


@endpoint(admin=True)
async def list_hooks(r: Request, b: GitHubBackend, _: Principal) -> Response:
    """GET .../hooks."""
    hooks = b.list_hooks(*_where(r))
    page, headers = paginate(r, hooks)
    return JSONResponse([h.to_json(b.urls.api) for h in page], headers=headers)


@endpoint(admin=True)
async def get_hook(r: Request, b: GitHubBackend, _: Principal) -> Response:
    """GET .../hooks/{hook_id}."""
    return JSONResponse(b.get_hook(*_where(r), path_int(r, "hook_id")).to_json(b.urls.api))


@endpoint(admin=True)
async def update_hook(r: Request, b: GitHubBackend, _: Principal) -> Response:
    """PATCH .../hooks/{hook_id}."""
    args = _hook_args(await json_body(r))
    args.pop("name", None)
    hook = b.update_hook(*_where(r), path_int(r, "hook_id"), **args)
    return JSONResponse(hook.to_json(b.urls.api))


@endpoint(admin=True)
async def delete_hook(r: Request, b: GitHubBackend, _: Principal) -> Response:
    """DELETE .../hooks/{hook_id}."""
    b.delete_hook(*_where(r), path_int(r, "hook_id"))
    return Response(status_code=204)


@endpoint(admin=True)
async def ping_hook(r: Request, b: GitHubBackend, _: Principal) -> Response:
    """POST .../hooks/{hook_id}/pings."""
    b.ping_hook(*_where(r), path_int(r, "hook_id"))
    return Response(status_code=204)


@endpoint(admin=True)
async def list_deliveries(r: Request, b: GitHubBackend, _: Principal) -> Response:
    """GET .../hooks/{hook_id}/deliveries?status=&per_page=&cursor=."""
    deliveries = b.list_deliveries(
        *_where(r), path_int(r, "hook_id"), status=r.query_params.get("status")
    )
    page, headers = paginate_by_cursor(r, deliveries, lambda d: d.id)
    return JSONResponse([d.item() for d in page], headers=headers)


@endpoint(admin=True)
async def get_delivery(r: Request, b: GitHubBackend, _: Principal) -> Response:
    """GET .../hooks/{hook_id}/deliveries/{delivery_id}."""
    delivery = b.get_delivery(*_where(r), path_int(r, "hook_id"), path_int(r, "delivery_id"))
    return JSONResponse(delivery.detail())


@endpoint(admin=True)
async def redeliver(r: Request, b: GitHubBackend, _: Principal) -> Response:
    """POST .../hooks/{hook_id}/deliveries/{delivery_id}/attempts."""
    b.redeliver(*_where(r), path_int(r, "hook_id"), path_int(r, "delivery_id"))
    return JSONResponse({}, status_code=202)


def repository_body(r: Request, b: GitHubBackend, p: Principal, repo: rep.Repo) -> dict[str, Any]:
    """repository as the caller's API version spells it, with the caller's permissions."""
    body = rep.repository(repo, b.urls, admin=p.admin)
    if breaking(r):  # 2026-03-10 changeset remove_has_downloads
        del body["has_downloads"]
    return body


@endpoint()
async def list_user_repos(r: Request, b: GitHubBackend, p: Principal) -> Response:
    """GET /user/repos (every repository; the token administers them all)."""
    params = r.query_params
    if "type" in params and ("visibility" in params or "affiliation" in params):
        raise ValidationFailed("If you specify visibility or affiliation, you cannot specify type.")
    repos = b.list_user_repos()
    visibility = params.get("visibility", "all")
    if visibility != "all":
        repos = [x for x in repos if x.private == (visibility == "private")]
    page, headers = paginate(r, repos)
    return JSONResponse([repository_body(r, b, p, x) for x in page], headers=headers)


@endpoint()
async def list_org_repos(r: Request, b: GitHubBackend, p: Principal) -> Response:
    """GET /orgs/{org}/repos."""
    repos = b.list_org_repos(r.path_params["org"])
    page, headers = paginate(r, repos)
    return JSONResponse([repository_body(r, b, p, x) for x in page], headers=headers)


@endpoint()
async def list_account_repos(r: Request, b: GitHubBackend, p: Principal) -> Response:
    """GET /users/{username}/repos (public repositories only)."""
    repos = b.list_account_repos(r.path_params["username"])
    page, headers = paginate(r, repos)
    return JSONResponse([repository_body(r, b, p, x) for x in page], headers=headers)


@endpoint()
async def get_org(r: Request, b: GitHubBackend, _: Principal) -> Response:
    """GET /orgs/{org}."""
    org = b.get_org(r.path_params["org"])
    return JSONResponse(org_rep.organization_full(org, b.list_org_repos(org.login), b.urls))


@endpoint(app=True)
async def get_authenticated_app(r: Request, b: GitHubBackend, _: Principal) -> Response:
    """GET /app (App JWT)."""
    return JSONResponse(rep.app(*b.get_authenticated_app(), b.urls))


@endpoint(app=True)
async def get_org_installation(r: Request, b: GitHubBackend, p: Principal) -> Response:
    """GET /orgs/{org}/installation (App JWT)."""
    installation_id, account = b.get_org_installation(r.path_params["org"])
    return JSONResponse(rep.installation(installation_id, p.subject_id, account, b.urls))


@endpoint(app=True)
async def get_repo_installation(r: Request, b: GitHubBackend, p: Principal) -> Response:
    """GET /repos/{owner}/{repo}/installation (App JWT)."""
    installation_id, account = b.get_repo_installation(
        r.path_params["owner"], r.path_params["repo"]
    )
    return JSONResponse(rep.installation(installation_id, p.subject_id, account, b.urls))


@endpoint(app=True)
async def create_installation_access_token(r: Request, b: GitHubBackend, _: Principal) -> Response:
    """POST /app/installations/{installation_id}/access_tokens (App JWT)."""
    await json_body(r)
    token, expires, _account = b.create_installation_access_token(path_int(r, "installation_id"))
    body = {
        "token": token,
        "expires_at": iso(expires),
        "permissions": dict(rep.APP_PERMISSIONS),
        "repository_selection": "all",
    }
    return JSONResponse(body, status_code=201)


@endpoint(charge=False)
async def rate_limit(r: Request, b: GitHubBackend, p: Principal) -> Response:
    """GET /rate_limit (free: it does not count against the limit)."""
    with b.lock:
        window = b.credentials.window(p)
    core = {
        "limit": window.limit,
        "remaining": window.remaining,
        "reset": int(window.reset),
        "used": window.used,
        "resource": "core",
    }
    search = {
        "limit": 30,
        "remaining": 30,
        "reset": int(b.clock.now()) + 60,
        "used": 0,
        "resource": "search",
    }
    body: dict[str, Any] = {"resources": {"core": core, "search": search}}
    if not breaking(r):  # 2026-03-10 changeset remove_rate_limit_rate
        body["rate"] = core
    return JSONResponse(body)
