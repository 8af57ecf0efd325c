"""JSON shapes of organizations and their runner groups, as GitHub's REST API spells them.

Field lists follow GitHub's OpenAPI description (`organization-full`, `runner-groups-org`);
the webhook `organization` (organization-simple) is `representations.organization`.
"""

from __future__ import annotations

from typing import Any

from simulator.github.representations import Account, Repo, Urls, iso, organization
from simulator.github.runner_groups import RunnerGroup


def organization_full(org: Account, repos: list[Repo], urls: Urls) -> dict[str, Any]:
    """organization-full, as its owner sees it (`GET /orgs/{org}`); unset profile fields
    (company, blog, location, email) are left out, as the description types them non-null."""
    private = sum(r.private for r in repos)
    return {
        **organization(org, urls),
        "name": org.login,
        "twitter_username": None,
        "is_verified": False,
        "has_organization_projects": True,
        "has_repository_projects": True,
        "public_repos": len(repos) - private,
        "public_gists": 0,
        "followers": 0,
        "following": 0,
        "html_url": f"{urls.html}/{org.login}",
        "created_at": iso(0),
        "updated_at": iso(0),
        "archived_at": None,
        "type": "Organization",
        "total_private_repos": private,
        "owned_private_repos": private,
        "private_gists": 0,
        "disk_usage": 0,
        "collaborators": 0,
        "billing_email": None,
        "default_repository_permission": "read",
        "members_can_create_repositories": True,
        "two_factor_requirement_enabled": False,
        "web_commit_signoff_required": False,
    }


def runner_group(group: RunnerGroup, urls: Urls) -> dict[str, Any]:
    """runner-groups-org; `selected_repositories_url` only when visibility is `selected`."""
    base = f"{urls.api}/orgs/{group.org}/actions/runner-groups/{group.id}"
    body: dict[str, Any] = {
        "id": group.id,
        "name": group.name,
        "visibility": group.visibility,
        "default": group.default,
        "runners_url": f"{base}/runners",
        "hosted_runners_url": f"{base}/hosted-runners",
        "inherited": False,
        "allows_public_repositories": group.allows_public_repositories,
        "restricted_to_workflows": group.restricted_to_workflows,
        "selected_workflows": list(group.selected_workflows),
        "workflow_restrictions_read_only": False,
    }
    if group.visibility == "selected":
        body["selected_repositories_url"] = f"{base}/repositories"
    return body
