"""simulator.harness.recording: real emulators, real secrets; the site built from it holds none."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from simulator.github import GitHubEmulator
from simulator.harness.backend_base import Endpoints
from simulator.harness.github_client import GitHubApi, GitHubControl, ScriptedJob
from simulator.harness.recording import Recorder, Tape
from simulator.livedoc.model import load_run
from simulator.livedoc.site import build_site
from simulator.nomad import NomadEmulator

REPO = "octo/app"
ROD = {"User-Agent": "runners-on-demand/0.1.0"}
FEATURE = """\
Feature: Recorded
  Scenario: Secrets stay out
    Given a run with secrets
"""


@dataclass
class Step:
    keyword: str = "Given"
    name: str = "a run with secrets"
    line: int = 3
    status: str = "failed"
    duration: float = 0.1
    error_message: str | None = None


@dataclass
class Scenario:
    steps: list[Step]
    name: str = "Secrets stay out"
    location: str = "features/recorded.feature:2"
    status: str = "failed"  # a failed scenario is written at once (no wait for its runners)
    duration: float = 0.2
    effective_tags: list[str] = field(default_factory=list)
    skip_reason: str | None = None

    @property
    def all_steps(self) -> list[Step]:
        return self.steps


@pytest.fixture
def emulators() -> Iterator[tuple[GitHubEmulator, NomadEmulator, str]]:
    token = "ghp_" + secrets.token_hex(18)
    github = GitHubEmulator(tokens=[token]).start()
    nomad = NomadEmulator(driver="inprocess").start()
    try:
        yield github, nomad, token
    finally:
        github.stop()
        nomad.stop()


def test_a_recorded_scenario_and_its_site_hold_none_of_the_run_s_secrets(
    tmp_path: Path, emulators: tuple[GitHubEmulator, NomadEmulator, str]
) -> None:
    github, nomad, token = emulators
    webhook_secret = secrets.token_hex(20)
    endpoints = Endpoints(github.url, token, nomad.url, None, "http://127.0.0.1:9", webhook_secret)
    recorder = Recorder(tmp_path / "livedoc.jsonl", backend="sim", paths=["features"])
    recorder.scenario_started()
    control, api = GitHubControl(github.url), GitHubApi(github.url, token)
    control.create_repo(REPO)
    hook = api.create_hook(REPO, endpoints.webhook_url, webhook_secret)
    step = Step()
    recorder.step_started(step)
    control.start_run(REPO, [ScriptedJob("build", ("self-hosted",))])  # a signed delivery
    jit = httpx.post(
        f"{github.url}/repos/{REPO}/actions/runners/generate-jitconfig",
        params={"access_token": token},
        json={"name": "rod-1", "runner_group_id": 1, "labels": ["self-hosted"]},
        headers={**ROD, "Authorization": f"Bearer {token}"},
    ).json()["encoded_jit_config"]
    httpx.get(f"{nomad.url}/v1/jobs", headers=ROD)
    tape = Tape()
    tape.record(httpx.get(f"{github.url}/rate_limit", headers={"User-Agent": "x"}), "a tape")
    control.flush_deliveries(10)
    recorder.step_ended(step)
    signature = api.get_delivery(REPO, hook["id"], 2)["request"]["headers"]["X-Hub-Signature-256"]
    step.error_message = f"saw {jit} with {token} signed {signature} by {webhook_secret}"
    recorder.scenario_ended(Scenario([step]), SimpleNamespace(endpoints=endpoints), tape)
    recorder.close()  # raises if a secret of the run is in the file

    lines = [json.loads(line) for line in recorder.path.read_text("utf-8").splitlines()]
    (scenario,) = [r for r in lines if r["kind"] == "scenario"]
    calls = {(c["source"], c["method"], c["path"]): c for c in scenario["calls"]}
    jitconfig = calls[("github", "POST", f"/repos/{REPO}/actions/runners/generate-jitconfig")]
    assert jitconfig["user_agent"] == ROD["User-Agent"]
    assert jitconfig["query"] == "access_token=[redacted]"
    assert calls[("github", "POST", f"/_sim/repos/{REPO}/runs")]["control"]
    assert (
        calls[("nomad", "GET", "/v1/jobs")]["started"]
        <= calls[("nomad", "GET", "/v1/jobs")]["ended"]
    )
    assert calls[("harness", "GET", "/rate_limit")]["detail"] == "a tape"
    queued = [c for c in scenario["calls"] if c["source"] == "webhooks" and "queued" in c["detail"]]
    assert queued and queued[0]["sent"] and queued[0]["path"] == "/webhook"
    assert scenario["observed"] == {"rod": True, "github": True, "nomad": True, "webhooks": True}

    features = tmp_path / "features"
    features.mkdir()
    (features / "recorded.feature").write_text(FEATURE, encoding="utf-8")
    build_site(load_run(recorder.path, features), tmp_path / "site")
    for path in (tmp_path / "site").rglob("*"):
        if path.is_file() and path.name != "mermaid.min.js":
            text = path.read_text(encoding="utf-8")
            for secret in (token, webhook_secret, jit, signature, signature.split("=")[1]):
                assert secret not in text, f"{path.name} holds a secret of the run"
    assert "saw [redacted] with [redacted]" in (tmp_path / "site/features/recorded.html").read_text(
        "utf-8"
    )


def test_close_refuses_a_file_holding_a_secret(
    tmp_path: Path, emulators: tuple[GitHubEmulator, NomadEmulator, str]
) -> None:
    github, nomad, token = emulators
    endpoints = Endpoints(github.url, token, nomad.url, None, "http://127.0.0.1:9", "s3cret-value")
    recorder = Recorder(tmp_path / "livedoc.jsonl", backend="sim")
    recorder.scenario_started()
    # Names come from the feature files and are written as they are: here, carelessly, a secret.
    named = Scenario([], name="uses s3cret-value")
    recorder.scenario_ended(named, SimpleNamespace(endpoints=endpoints), Tape())
    with pytest.raises(AssertionError, match="1 secret"):
        recorder.close()
