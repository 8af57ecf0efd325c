"""Regenerate simulator/github/openapi/*.json: the subset of GitHub's OpenAPI the emulator serves.

Usage: python scripts/refresh_github_openapi.py [--rest-version 23.0.2] [--webhooks-version 12.1.0]

Runs `npm pack` for `@octokit/openapi` (REST) and `@octokit/openapi-webhooks` (webhook payloads)
in a temporary directory, keeps only the emulated paths and webhooks plus every component they
reference, drops examples, and records the package versions under `info.x-source`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent.parent / "simulator" / "github" / "openapi"

# (path, method) pairs the emulator answers; keep in step with simulator/github/routes.py.
REST_OPERATIONS: list[tuple[str, str]] = [
    ("/repos/{owner}/{repo}/actions/runners/registration-token", "post"),
    ("/repos/{owner}/{repo}/actions/runners/remove-token", "post"),
    ("/repos/{owner}/{repo}/actions/runners/generate-jitconfig", "post"),
    ("/repos/{owner}/{repo}/actions/runners", "get"),
    ("/repos/{owner}/{repo}/actions/runners/{runner_id}", "get"),
    ("/repos/{owner}/{repo}/actions/runners/{runner_id}", "delete"),
    ("/orgs/{org}/actions/runners/registration-token", "post"),
    ("/orgs/{org}/actions/runners/remove-token", "post"),
    ("/orgs/{org}/actions/runners/generate-jitconfig", "post"),
    ("/orgs/{org}/actions/runners", "get"),
    ("/orgs/{org}/actions/runners/{runner_id}", "get"),
    ("/orgs/{org}/actions/runners/{runner_id}", "delete"),
    ("/repos/{owner}/{repo}/actions/jobs/{job_id}", "get"),
    ("/repos/{owner}/{repo}/actions/runs", "get"),
    ("/repos/{owner}/{repo}/actions/runs/{run_id}/jobs", "get"),
    ("/repos/{owner}/{repo}/hooks", "get"),
    ("/repos/{owner}/{repo}/hooks", "post"),
    ("/repos/{owner}/{repo}/hooks/{hook_id}", "get"),
    ("/repos/{owner}/{repo}/hooks/{hook_id}", "patch"),
    ("/repos/{owner}/{repo}/hooks/{hook_id}", "delete"),
    ("/repos/{owner}/{repo}/hooks/{hook_id}/pings", "post"),
    ("/repos/{owner}/{repo}/hooks/{hook_id}/deliveries", "get"),
    ("/repos/{owner}/{repo}/hooks/{hook_id}/deliveries/{delivery_id}", "get"),
    ("/repos/{owner}/{repo}/hooks/{hook_id}/deliveries/{delivery_id}/attempts", "post"),
    ("/orgs/{org}/hooks", "get"),
    ("/orgs/{org}/hooks", "post"),
    ("/orgs/{org}/hooks/{hook_id}", "get"),
    ("/orgs/{org}/hooks/{hook_id}", "patch"),
    ("/orgs/{org}/hooks/{hook_id}", "delete"),
    ("/orgs/{org}/hooks/{hook_id}/pings", "post"),
    ("/orgs/{org}/hooks/{hook_id}/deliveries", "get"),
    ("/orgs/{org}/hooks/{hook_id}/deliveries/{delivery_id}", "get"),
    ("/orgs/{org}/hooks/{hook_id}/deliveries/{delivery_id}/attempts", "post"),
    ("/orgs/{org}/actions/runner-groups", "get"),
    ("/orgs/{org}/actions/runner-groups", "post"),
    ("/orgs/{org}/actions/runner-groups/{runner_group_id}", "get"),
    ("/orgs/{org}/actions/runner-groups/{runner_group_id}", "patch"),
    ("/orgs/{org}/actions/runner-groups/{runner_group_id}", "delete"),
    ("/orgs/{org}/actions/runner-groups/{runner_group_id}/repositories", "get"),
    ("/orgs/{org}/actions/runner-groups/{runner_group_id}/repositories", "put"),
    ("/orgs/{org}/actions/runner-groups/{runner_group_id}/repositories/{repository_id}", "put"),
    ("/orgs/{org}/actions/runner-groups/{runner_group_id}/repositories/{repository_id}", "delete"),
    ("/orgs/{org}/actions/runner-groups/{runner_group_id}/runners", "get"),
    ("/orgs/{org}/actions/runner-groups/{runner_group_id}/runners", "put"),
    ("/orgs/{org}/actions/runner-groups/{runner_group_id}/runners/{runner_id}", "put"),
    ("/orgs/{org}/actions/runner-groups/{runner_group_id}/runners/{runner_id}", "delete"),
    ("/user/repos", "get"),
    ("/users/{username}/repos", "get"),
    ("/orgs/{org}", "get"),
    ("/orgs/{org}/repos", "get"),
    ("/repos/{owner}/{repo}/installation", "get"),
    ("/orgs/{org}/installation", "get"),
    ("/app", "get"),
    ("/app/installations/{installation_id}/access_tokens", "post"),
    ("/rate_limit", "get"),
]
WEBHOOKS = [
    "ping",
    "workflow-job-queued",
    "workflow-job-waiting",
    "workflow-job-in-progress",
    "workflow-job-completed",
]


def npm_pack(package: str, version: str, workdir: Path) -> Path:
    """`npm pack package@version` into workdir, unpack it, return the package directory."""
    out = subprocess.run(
        ["npm", "pack", f"{package}@{version}", "--silent"],
        cwd=workdir,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()[-1]
    target = workdir / out.removesuffix(".tgz")
    with tarfile.open(workdir / out) as tar:
        tar.extractall(target, filter="data")
    return target / "package"


def _refs(node: Any) -> set[str]:
    """Every `#/components/...` reference inside node."""
    found: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/"):
            found.add(ref)
        for value in node.values():
            found |= _refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= _refs(value)
    return found


def _strip_examples(node: Any) -> Any:
    """Drop `examples` maps (large, and not needed to validate)."""
    if isinstance(node, dict):
        return {k: _strip_examples(v) for k, v in node.items() if k != "examples"}
    if isinstance(node, list):
        return [_strip_examples(v) for v in node]
    return node


def subset(spec: dict[str, Any], roots: dict[str, Any], key: str) -> dict[str, Any]:
    """Keep `roots` (under `key`) and the closure of components they reference."""
    roots = _strip_examples(roots)
    components: dict[str, dict[str, Any]] = {}
    pending = _refs(roots)
    seen: set[str] = set()
    while pending:
        ref = pending.pop()
        if ref in seen:
            continue
        seen.add(ref)
        _, _, kind, name = ref.split("/", 3)
        node = _strip_examples(spec["components"][kind][name])
        components.setdefault(kind, {})[name] = node
        pending |= _refs(node)
    ordered = {kind: dict(sorted(items.items())) for kind, items in sorted(components.items())}
    return {"openapi": spec["openapi"], "info": spec["info"], key: roots, "components": ordered}


def main() -> None:
    """Fetch both packages and write the two subsets."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rest-version", default="23.0.2")
    parser.add_argument("--webhooks-version", default="12.1.0")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        rest_pkg = npm_pack("@octokit/openapi", args.rest_version, work)
        hooks_pkg = npm_pack("@octokit/openapi-webhooks", args.webhooks_version, work)
        rest = json.loads((rest_pkg / "generated" / "api.github.com.json").read_text())
        hooks = json.loads((hooks_pkg / "generated" / "api.github.com.json").read_text())
    paths: dict[str, Any] = {}
    for path, method in REST_OPERATIONS:
        item = rest["paths"][path]
        paths.setdefault(path, {})[method] = item[method]
    rest_out = subset(rest, paths, "paths")
    rest_out["info"] = {**rest["info"], "x-source": f"@octokit/openapi@{args.rest_version}"}
    hooks_out = subset(hooks, {name: hooks["webhooks"][name] for name in WEBHOOKS}, "webhooks")
    hooks_out["info"] = {
        **hooks["info"],
        "x-source": f"@octokit/openapi-webhooks@{args.webhooks_version}",
    }
    OUT.mkdir(parents=True, exist_ok=True)
    for name, doc in (("rest.json", rest_out), ("webhooks.json", hooks_out)):
        (OUT / name).write_text(json.dumps(doc, indent=1, sort_keys=False) + "\n")
        print(f"wrote {OUT / name} ({len(json.dumps(doc)) // 1024} KiB)")


if __name__ == "__main__":
    main()
