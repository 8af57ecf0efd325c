"""A site built from a real recording (tests/samples/livedoc) plus a hostile, failing story.

`fixture_site` is that site; `real_site` is the one `make docs` built (LIVEDOC_SITE, set by
`make docs-check`); `built_site` is each of them in turn.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from simulator.livedoc.model import load_run, read_records
from simulator.livedoc.site import build_site

REPO = Path(__file__).resolve().parents[3]
SAMPLE = REPO / "tests" / "samples" / "livedoc" / "run.jsonl"
# Mermaid statement ends, a directive, markup, a script and an entity, in one label.
HOSTILE = (
    'a; b # c & "d" %%{init: {"theme": "dark"}}%% <script>window.__livedocPwned = 1</script>'
    ' <img src=x onerror="window.__livedocPwned = 2">'
)
# Credential shapes planted in the recording; none may reach the site.
PLANTED = {
    "token": "ghp_" + "Z" * 36,
    "signature": "sha256=" + "ab" * 32,
    "jwt": "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiI0MiJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ",
    "bearer": "Bearer s3cr3t-bearer-value",
    "jit": "eyJ2ZXJzaW9uIjoxLCJydW5uZXIiOiJyb2QtMSIsInNlY3JldCI6IngifQ" * 2,
}
HOSTILE_FEATURE = """\
@hostile
Feature: Labels with <b>markup</b> & ; # in them
  As a reader of a "hostile" label; with # and &
  I want it shown as text

  Scenario: A step with ; # <script>window.__livedocPwned = 3</script> fails
    Given a label with ; # & <img src=x onerror="window.__livedocPwned = 4">
    When the dispatch fails
    Then nothing else runs
"""


@dataclass(frozen=True)
class Site:
    """A built site and what it was built from."""

    name: str
    root: Path
    records: list[dict[str, Any]]
    features: Path


def _call(
    source: str, to: str, method: str, path: str, status: int, at: float, **extra: Any
) -> dict[str, Any]:
    return {
        "source": source,
        "to": to,
        "method": method,
        "path": path,
        "query": "",
        "status": status,
        "started": at,
        "ended": at + 0.01,
        "user_agent": extra.pop("user_agent", ""),
        "control": extra.pop("control", False),
        "detail": "",
        **extra,
    }


def hostile_records(t0: float) -> list[dict[str, Any]]:
    """A failed scenario of HOSTILE_FEATURE with hostile labels and planted credentials."""
    rod, harness = "runners-on-demand/0.1.0", "runners-on-demand-acceptance"
    steps = [
        ("Given", 'a label with ; # & <img src=x onerror="window.__livedocPwned = 4">', "passed"),
        ("When", "the dispatch fails", "failed"),
        ("Then", "nothing else runs", "skipped"),
    ]
    calls = [
        _call("github", "github", "POST", "/_sim/repos/o/r/runs", 201, t0 + 0.5, control=True),
        _call(
            "webhooks",
            "rod",
            "POST",
            "/webhook",
            202,
            t0 + 0.6,
            detail=f"workflow_job queued · {HOSTILE}",
            sent=True,
        ),
        _call(
            "webhooks",
            "rod",
            "POST",
            "/webhook",
            0,
            t0 + 0.7,
            detail="workflow_job queued · Dropped by simulator fault",
            sent=False,
        ),
        _call(
            "nomad",
            "nomad",
            "POST",
            "/v1/job/github-runner/dispatch",
            500,
            t0 + 1.1,
            user_agent=rod,
            query=f"token={PLANTED['token']}",
        ),
        _call(
            "nomad",
            "nomad",
            "POST",
            f"/v1/job/{HOSTILE}/dispatch",
            404,
            t0 + 1.2,
            user_agent=PLANTED["bearer"],
        ),
        *(
            _call("github", "github", "GET", "/repos/o/r/actions/runners", 200, t0 + t)
            | {"user_agent": harness}
            for t in (1.3, 1.4)
        ),
    ]
    sent = " ".join(PLANTED[k] for k in ("signature", "jwt", "jit"))
    error = f"Assertion Failed: dispatch refused; {HOSTILE}\nsent {sent}"
    return [
        {
            "kind": "scenario",
            "location": "features/hostile.feature:6",
            "name": "A step with ; # <script>window.__livedocPwned = 3</script> fails",
            "status": "failed",
            "duration": 1.25,
            "tags": ["hostile"],
            "skip_reason": None,
            "begun": t0,
            "ended": t0 + 2,
            "steps": [
                {
                    "keyword": keyword,
                    "name": name,
                    "line": 7 + n,
                    "status": status,
                    "duration": 0.5 if status != "skipped" else 0.0,
                    "error": error if status == "failed" else None,
                    "started": t0 + 0.4 + n * 0.5 if status != "skipped" else None,
                    "ended": t0 + 0.9 + n * 0.5 if status != "skipped" else None,
                }
                for n, (keyword, name, status) in enumerate(steps)
            ],
            "calls": calls,
        },
        {
            "kind": "feature",
            "location": "features/hostile.feature",
            "status": "failed",
            "duration": 1.25,
            "skip_reason": None,
        },
        # A feature skipped on another backend, as environment.py's before_tag does it.
        {
            "kind": "scenario",
            "location": "features/reliability/replicas.feature:7",
            "name": "Both replicas receive every webhook",
            "status": "skipped",
            "duration": 0.0,
            "tags": ["fixture.reliable_stack"],
            "skip_reason": "needs -D backend=sim, not compose",
            "steps": [],
            "calls": [],
        },
        {
            "kind": "feature",
            "location": "features/reliability/replicas.feature",
            "status": "skipped",
            "duration": 0.0,
            "skip_reason": "needs -D backend=sim, not compose",
        },
    ]


@pytest.fixture(scope="session")
def fixture_site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    """The real sample recording, the hostile story, the project's feature files: built."""
    base = tmp_path_factory.mktemp("livedoc")
    features = base / "features"
    shutil.copytree(SAMPLE.parent / "features", features)  # the features the sample ran
    (features / "hostile.feature").write_text(HOSTILE_FEATURE, encoding="utf-8")
    records = read_records(SAMPLE)
    records[1:1] = hostile_records(float(records[0]["started"]))
    path = base / "livedoc.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    build_site(load_run(path, features), base / "site")
    return Site("fixture", base / "site", records, features)


@pytest.fixture(scope="session")
def real_site() -> Site:
    """The site `make docs` built from the last acceptance run (LIVEDOC_SITE=build/livedoc)."""
    where = os.environ.get("LIVEDOC_SITE")
    if not where:
        pytest.skip("LIVEDOC_SITE is not set: `make docs-check` checks the site of the real run")
    root = Path(where).resolve()
    if not (root / "index.html").exists():
        pytest.fail(f"LIVEDOC_SITE={where} has no index.html: run `make docs` first")
    records = read_records(REPO / "build" / "acceptance" / "livedoc.jsonl")
    return Site("real", root, records, REPO / "features")


@pytest.fixture(params=["fixture", "real"])
def built_site(request: pytest.FixtureRequest) -> Site:
    """The fixture site, then the real one (skipped unless LIVEDOC_SITE is set)."""
    site: Site = request.getfixturevalue(f"{request.param}_site")
    return site
