"""REST handlers of `/orgs/{org}/actions/runner-groups...`: parse, call the backend, serialize."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from simulator.github import org_representations as org_rep
from simulator.github import representations as rep
from simulator.github.auth import Principal
from simulator.github.edge import endpoint, json_body, paginate, path_int, require
from simulator.github.errors import ValidationFailed
from simulator.github.models import GitHubBackend
from simulator.github.responses import repository_body

OPTIONAL = (
    ("visibility", str),
    ("allows_public_repositories", bool),
    ("restricted_to_workflows", bool),
    ("selected_workflows", list),
)


def _ids(body: dict[str, Any], name: str) -> list[int]:
    """A required list of integer ids, or GitHub's 422 wording."""
    values: list[int] = require(body, name, list)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise ValidationFailed(
            f"Invalid request.\n\nFor '{name}', {values!r} is not a valid value."
        )
    return values


def _policy(body: dict[str, Any]) -> dict[str, Any]:
    """The optional policy fields present in a create or update body."""
    return {key: require(body, key, kind) for key, kind in OPTIONAL if key in body}


def _group(r: Request) -> tuple[str, int]:
    return r.path_params["org"], path_int(r, "runner_group_id")


@endpoint(admin=True)
async def list_runner_groups(r: Request, b: GitHubBackend, _: Principal) -> Response:
    """GET /orgs/{org}/actions/runner-groups?visible_to_repository=&per_page=&page=."""
    groups = b.list_runner_groups(
        r.path_params["org"], visible_to_repository=r.query_params.get("visible_to_repository")
    )
    page, headers = paginate(r, groups)
    body = {
        "total_count": len(groups),
        "runner_groups": [org_rep.runner_group(g, b.urls) for g in page],
    }
    return JSONResponse(body, headers=headers)


@endpoint(admin=True)
async def create_runner_group(r: Request, b: GitHubBackend, _: Principal) -> Response:
    """POST /orgs/{org}/actions/runner-groups."""
    body = await json_body(r)
    args = _policy(body)
    for key in ("selected_repository_ids", "runners"):
        if key in body:
            args[key] = _ids(body, key)
    group = b.create_runner_group(r.path_params["org"], name=require(body, "name", str), **args)
    return JSONResponse(org_rep.runner_group(group, b.urls), status_code=201)


@endpoint(admin=True)
async def get_runner_group(r: Request, b: GitHubBackend, _: Principal) -> Response:
    """GET /orgs/{org}/actions/runner-groups/{runner_group_id}."""
    return JSONResponse(org_rep.runner_group(b.get_runner_group(*_group(r)), b.urls))


@endpoint(admin=True)
async def update_runner_group(r: Request, b: GitHubBackend, _: Principal) -> Response:
    """PATCH /orgs/{org}/actions/runner-groups/{runner_group_id} (`name` is required)."""
    body = await json_body(r)
    group = b.update_runner_group(*_group(r), name=require(body, "name", str), **_policy(body))
    return JSONResponse(org_rep.runner_group(group, b.urls))


@endpoint(admin=True)
async def delete_runner_group(r: Request, b: GitHubBackend, _: Principal) -> Response:
    """DELETE /orgs/{org}/actions/runner-groups/{runner_group_id}."""
    b.delete_runner_group(*_group(r))
    return Response(status_code=204)


@endpoint(admin=True)
async def list_group_repos(r: Request, b: GitHubBackend, p: Principal) -> Response:
    """GET .../runner-groups/{runner_group_id}/repositories."""
    repos = b.list_runner_group_repos(*_group(r))
    page, headers = paginate(r, repos)
    body = {"total_count": len(repos), "repositories": [repository_body(r, b, p, x) for x in page]}
    return JSONResponse(body, headers=headers)


@endpoint(admin=True)
async def set_group_repos(r: Request, b: GitHubBackend, _: Principal) -> Response:
    """PUT .../runner-groups/{runner_group_id}/repositories {selected_repository_ids}."""
    ids = _ids(await json_body(r), "selected_repository_ids")
    b.set_runner_group_repos(*_group(r), ids)
    return Response(status_code=204)


@endpoint(admin=True)
async def add_group_repo(r: Request, b: GitHubBackend, _: Principal) -> Response:
    """PUT .../runner-groups/{runner_group_id}/repositories/{repository_id}."""
    b.add_runner_group_repo(*_group(r), path_int(r, "repository_id"))
    return Response(status_code=204)


@endpoint(admin=True)
async def remove_group_repo(r: Request, b: GitHubBackend, _: Principal) -> Response:
    """DELETE .../runner-groups/{runner_group_id}/repositories/{repository_id}."""
    b.remove_runner_group_repo(*_group(r), path_int(r, "repository_id"))
    return Response(status_code=204)


@endpoint(admin=True)
async def list_group_runners(r: Request, b: GitHubBackend, _: Principal) -> Response:
    """GET .../runner-groups/{runner_group_id}/runners."""
    runners = b.list_runner_group_runners(*_group(r))
    page, headers = paginate(r, runners)
    body = {"total_count": len(runners), "runners": [rep.runner(x) for x in page]}
    return JSONResponse(body, headers=headers)


@endpoint(admin=True)
async def set_group_runners(r: Request, b: GitHubBackend, _: Principal) -> Response:
    """PUT .../runner-groups/{runner_group_id}/runners {runners}."""
    b.set_runner_group_runners(*_group(r), _ids(await json_body(r), "runners"))
    return Response(status_code=204)


@endpoint(admin=True)
async def add_group_runner(r: Request, b: GitHubBackend, _: Principal) -> Response:
    """PUT .../runner-groups/{runner_group_id}/runners/{runner_id}."""
    b.add_runner_group_runner(*_group(r), path_int(r, "runner_id"))
    return Response(status_code=204)


@endpoint(admin=True)
async def remove_group_runner(r: Request, b: GitHubBackend, _: Principal) -> Response:
    """DELETE .../runner-groups/{runner_group_id}/runners/{runner_id}."""
    b.remove_runner_group_runner(*_group(r), path_int(r, "runner_id"))
    return Response(status_code=204)
