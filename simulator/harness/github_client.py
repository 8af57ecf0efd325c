"""The GitHub REST calls the suite observes through, plus the emulator's `/_sim/` control plane."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import httpx

# Every call the suite makes says so (the living documentation tells callers apart by this).
HARNESS_USER_AGENT = "runners-on-demand-acceptance"
# https://docs.github.com/en/rest/using-the-rest-api/getting-started-with-the-rest-api#headers
REST_HEADERS = {
    "Accept": "application/vnd.github+json",
    "X-GitHub-Api-Version": "2022-11-28",
    "User-Agent": HARNESS_USER_AGENT,
}


@dataclass(frozen=True)
class ScriptedJob:
    """One job of a simulated workflow run: what it asks for and how it ends."""

    name: str
    labels: tuple[str, ...]
    duration_seconds: float = 1.0
    conclusion: str = "success"

    @property
    def self_hosted(self) -> bool:
        """True when the job asks for a self-hosted runner (GitHub compares labels case-blind)."""
        return any(label.lower() == "self-hosted" for label in self.labels)

    def as_json(self) -> dict[str, Any]:
        """The job as the emulator's `/_sim/repos/{o}/{r}/runs` endpoint takes it."""
        data = asdict(self)
        data["labels"] = list(self.labels)
        return data


def _hooks(target: str) -> str:
    """The hooks of a repository (`owner/name`), or of an organization (its login)."""
    return f"/repos/{target}/hooks" if "/" in target else f"/orgs/{target}/hooks"


class GitHubApi:
    """GitHub REST API v3 over a synchronous httpx client (https://docs.github.com/rest).

    The hook calls take a repository (`owner/name`) or an organization (its login).
    """

    def __init__(self, base_url: str, token: str, *, timeout: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={**REST_HEADERS, "Authorization": f"Bearer {token}"},
            timeout=timeout,
        )

    def close(self) -> None:
        """Release the connection pool."""
        self._http.close()

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, path, **kwargs)
        if response.is_error:
            raise httpx.HTTPStatusError(
                f"GitHub {method} {path} answered {response.status_code}: {response.text[:200]}",
                request=response.request,
                response=response,
            )
        return response.json() if response.content else None

    # https://docs.github.com/rest/actions/self-hosted-runners#list-self-hosted-runners-for-a-repository
    def list_runners(self, target: str) -> list[dict[str, Any]]:
        """Self-hosted runners registered on the repository (or the organization)."""
        base = f"/repos/{target}" if "/" in target else f"/orgs/{target}"
        body = self._json("GET", f"{base}/actions/runners", params={"per_page": 100})
        runners: list[dict[str, Any]] = body["runners"]
        return runners

    # https://docs.github.com/rest/actions/self-hosted-runners#get-a-self-hosted-runner-for-a-repository
    def get_runner(self, repo: str, runner_id: int) -> dict[str, Any] | None:
        """One runner, or None once GitHub answers 404 (deregistered)."""
        response = self._http.get(f"/repos/{repo}/actions/runners/{runner_id}")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        runner: dict[str, Any] = response.json()
        return runner

    # https://docs.github.com/rest/actions/workflow-runs#list-workflow-runs-for-a-repository
    def list_runs(self, repo: str, status: str | None = None) -> list[dict[str, Any]]:
        """Workflow runs of the repository, optionally filtered by status."""
        params: dict[str, Any] = {"per_page": 100}
        if status:
            params["status"] = status
        body = self._json("GET", f"/repos/{repo}/actions/runs", params=params)
        runs: list[dict[str, Any]] = body["workflow_runs"]
        return runs

    # https://docs.github.com/rest/actions/workflow-jobs#list-jobs-for-a-workflow-run
    def list_run_jobs(self, repo: str, run_id: int) -> list[dict[str, Any]]:
        """The jobs of one workflow run (latest attempt)."""
        body = self._json(
            "GET", f"/repos/{repo}/actions/runs/{run_id}/jobs", params={"per_page": 100}
        )
        jobs: list[dict[str, Any]] = body["jobs"]
        return jobs

    # https://docs.github.com/rest/repos/webhooks#create-a-repository-webhook
    def create_hook(self, repo: str, url: str, secret: str) -> dict[str, Any]:
        """A `workflow_job` hook delivering JSON signed with `secret`."""
        config = {"url": url, "content_type": "json", "secret": secret, "insecure_ssl": "0"}
        body = {"name": "web", "active": True, "events": ["workflow_job"], "config": config}
        hook: dict[str, Any] = self._json("POST", f"/repos/{repo}/hooks", json=body)
        return hook

    # https://docs.github.com/rest/orgs/webhooks#create-an-organization-webhook
    def create_org_hook(self, org: str, url: str, secret: str) -> dict[str, Any]:
        """The organization's `workflow_job` hook, for every repository of it."""
        config = {"url": url, "content_type": "json", "secret": secret, "insecure_ssl": "0"}
        body = {"name": "web", "active": True, "events": ["workflow_job"], "config": config}
        hook: dict[str, Any] = self._json("POST", f"/orgs/{org}/hooks", json=body)
        return hook

    # https://docs.github.com/rest/repos/webhooks#list-repository-webhooks
    def list_hooks(self, target: str) -> list[dict[str, Any]]:
        """The repository's (or organization's) webhooks."""
        hooks: list[dict[str, Any]] = self._json("GET", _hooks(target))
        return hooks

    # https://docs.github.com/rest/repos/webhooks#list-deliveries-for-a-repository-webhook
    def list_deliveries(self, target: str, hook_id: int) -> list[dict[str, Any]]:
        """Recent deliveries of one hook, newest first."""
        deliveries: list[dict[str, Any]] = self._json(
            "GET", f"{_hooks(target)}/{hook_id}/deliveries", params={"per_page": 100}
        )
        return deliveries

    # https://docs.github.com/rest/repos/webhooks#get-a-delivery-for-a-repository-webhook
    def get_delivery(self, target: str, hook_id: int, delivery_id: int) -> dict[str, Any]:
        """One delivery with its request and the response the receiver gave."""
        delivery: dict[str, Any] = self._json(
            "GET", f"{_hooks(target)}/{hook_id}/deliveries/{delivery_id}"
        )
        return delivery

    # https://docs.github.com/rest/actions/self-hosted-runner-groups#create-a-self-hosted-runner-group-for-an-organization
    def create_runner_group(self, org: str, name: str, repo_ids: list[int]) -> dict[str, Any]:
        """A runner group of `org` that only the repositories `repo_ids` may use."""
        body = {"name": name, "visibility": "selected", "selected_repository_ids": repo_ids}
        group: dict[str, Any] = self._json("POST", f"/orgs/{org}/actions/runner-groups", json=body)
        return group

    # https://docs.github.com/rest/actions/self-hosted-runner-groups#list-self-hosted-runner-groups-for-an-organization
    def list_runner_groups(self, org: str) -> list[dict[str, Any]]:
        """The organization's runner groups."""
        body = self._json("GET", f"/orgs/{org}/actions/runner-groups", params={"per_page": 100})
        groups: list[dict[str, Any]] = body["runner_groups"]
        return groups

    # https://docs.github.com/rest/actions/self-hosted-runner-groups#list-repository-access-to-a-self-hosted-runner-group-in-an-organization
    def list_runner_group_repos(self, org: str, group_id: int) -> list[dict[str, Any]]:
        """The repositories a `selected` runner group serves."""
        path = f"/orgs/{org}/actions/runner-groups/{group_id}/repositories"
        repos: list[dict[str, Any]] = self._json("GET", path, params={"per_page": 100})[
            "repositories"
        ]
        return repos


class GitHubControl:
    """The GitHub emulator's test-only control plane under `/_sim/` (see simulator/README.md)."""

    def __init__(self, base_url: str, *, timeout: float = 5.0) -> None:
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"User-Agent": HARNESS_USER_AGENT},
            timeout=timeout,
        )

    def close(self) -> None:
        """Release the connection pool."""
        self._http.close()

    def _post(self, path: str, body: Any = None, params: dict[str, Any] | None = None) -> Any:
        response = self._http.post(path, json=body, params=params, timeout=60)
        if response.is_error:
            raise httpx.HTTPStatusError(
                f"GitHub emulator POST {path} answered {response.status_code}: "
                f"{response.text[:200]}",
                request=response.request,
                response=response,
            )
        return response.json() if response.content else None

    def reset(self) -> None:
        """Forget every repository, run, runner, hook and delivery."""
        self._post("/_sim/reset")

    def flush_deliveries(self, timeout: float) -> None:
        """Wait until every scheduled webhook delivery has been attempted."""
        self._post("/_sim/webhooks/flush", params={"timeout": timeout})

    def create_repo(self, full_name: str, *, private: bool = False) -> dict[str, Any]:
        """Create a repository the token can administer."""
        body = {"full_name": full_name, "private": private}
        repo: dict[str, Any] = self._post("/_sim/repos", body)
        return repo

    def create_org(self, login: str) -> dict[str, Any]:
        """Create an organization (with its `Default` runner group)."""
        org: dict[str, Any] = self._post("/_sim/orgs", {"login": login})
        return org

    def start_run(
        self, repo: str, jobs: list[ScriptedJob], *, event: str = "pull_request"
    ) -> dict[str, Any]:
        """Trigger a workflow run (e.g. for a pull request) whose jobs follow the script."""
        body = {"event": event, "jobs": [job.as_json() for job in jobs]}
        run: dict[str, Any] = self._post(f"/_sim/repos/{repo}/runs", body)
        return run

    # --- the runner scale set service (simulator/README.md, "Runner scale set emulator") ------

    def scale_sets(self) -> list[dict[str, Any]]:
        """Every scale set with its sessions (no tokens), runner requests and queue."""
        response = self._http.get("/_sim/scalesets")
        response.raise_for_status()
        found: list[dict[str, Any]] = response.json()
        return found

    def scale_set_fault(self, mode: str, operation: str, count: int = 1) -> None:
        """The next `count` calls of `operation` answer as `mode` says (401, 429, 5xx, ...)."""
        self._post("/_sim/scalesets/faults", {"mode": mode, "operation": operation, "count": count})

    def reassign(self, job_id: int, to: str) -> dict[str, Any]:
        """GitHub's reassignment of an assigned job: JobCompleted canceled, then `to` again."""
        request: dict[str, Any] = self._post(f"/_sim/jobs/{job_id}/reassign", {"to": to})
        return request

    def advance_clock(self, seconds: float) -> None:
        """Move the emulator's clock (tokens, sessions and JIT runners expire by it)."""
        self._post("/_sim/clock", {"advance_seconds": seconds})
