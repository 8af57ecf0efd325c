"""No secret anywhere: a full run with every credential set, then a search of everything it left.

GitHub emulator, Nomad emulator with ACLs and the process driver (the real job spec running the
fake runner), and `rod serve` as a real process with the webhook secret, a GitHub token, a Nomad
token and a Cloudflare Access secret header. A job runs to completion; good, forged and malformed
deliveries are sent. Then every log (`rod serve`, the runner task, the emulators), every webhook
answer, `/metrics`, and every field of the Nomad jobs, their Payloads included, are searched for
the secrets and the JIT config, which travels only in the Nomad Variable the runner task reads
(docs/architecture.md); that Variable is destroyed once used.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from simulator.github import GitHubEmulator
from simulator.harness.backend_base import Endpoints
from simulator.harness.dispatcher import DispatcherProcess, rod_command
from simulator.harness.github_client import ScriptedJob
from simulator.harness.nomad_client import register_runner_job
from simulator.harness.observe import Snapshot, decode_payload
from simulator.harness.settings import StackSettings
from simulator.harness.stack import Stack
from simulator.harness.waiting import wait_for
from simulator.nomad import NomadEmulator

WEBHOOK_SECRET = "whsec-" + secrets.token_hex(16)
PREVIOUS_SECRET = "whsec-old-" + secrets.token_hex(16)  # a rotation is under way
GITHUB_TOKEN = "ghp_" + secrets.token_hex(18)
NOMAD_TOKEN = "nomad-acl-" + secrets.token_hex(16)
RUNNER_POLICY = Path(__file__).parents[2] / "deploy" / "nomad" / "github-runner-policy.hcl"
CF_SECRET = "cf-access-" + secrets.token_hex(16)
CONFIG = """
[reconcile]
interval_seconds = 1

[nomad.headers]
"CF-Access-Client-Id" = "rod.access"
"CF-Access-Client-Secret" = { env = "CF_ACCESS_CLIENT_SECRET" }
"""


class ConfiguredDispatcher(DispatcherProcess):
    """The harness's `rod serve` process, started with `--config`."""

    def __init__(self, env: dict[str, str], log_path: Path, config: Path) -> None:
        super().__init__(env, log_path)
        self.config = config

    def start(self, timeout: float = 20.0) -> ConfiguredDispatcher:
        """Start with the config file and wait until `/readyz` answers 200."""
        command = [*rod_command(), "serve", "--config", str(self.config)]
        command += ["--host", self.host, "--port", str(self.port), "--log-level", "debug"]
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                command, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        wait_for(
            "rod serve to be ready",
            self._ready_status,
            lambda status: status == 200,
            timeout=timeout,
            transient=(httpx.TransportError,),
        )
        return self


class SecretBackend:
    """The sim backend with every credential set (the harness's SimBackend sets only two)."""

    name = "sim-with-secrets"
    registers_runner_job = True

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.github = GitHubEmulator(tokens=[GITHUB_TOKEN])
        self.nomad = NomadEmulator(driver="process", acl_token=NOMAD_TOKEN)
        self.dispatcher: ConfiguredDispatcher | None = None
        self.written: list[dict[str, str]] = []  # the items of every credential Variable write

    def record_variable_writes(self) -> None:
        """Keep what rod writes to Nomad Variables: the one place a runner credential goes."""
        store = self.nomad.backend.variables
        upsert = store.upsert

        def recording(namespace: str, path: str, items: Any, **options: Any) -> Any:
            if path != "rod/served-repos":  # the reconciler's repository names: nothing secret
                self.written.append(dict(items))
            return upsert(namespace, path, items, **options)

        store.upsert = recording  # type: ignore[method-assign]

    def start(self) -> Endpoints:
        """Both emulators, then `rod serve` against them."""
        self.github.start()
        self.nomad.start()
        self.record_variable_writes()
        # README "Deploying" step 1: with ACLs on, the runner task reads its credential through
        # the policy attached to the runner job (deploy/nomad/github-runner-policy.hcl).
        job_acl = {"Namespace": "default", "JobID": "github-runner", "Group": "runner",
                   "Task": "runner"}  # fmt: skip
        policy = {"Name": "github-runner", "Rules": RUNNER_POLICY.read_text(), "JobACL": job_acl}
        applied = httpx.put(
            f"{self.nomad.url}/v1/acl/policy/github-runner",
            json=policy,
            headers={"X-Nomad-Token": NOMAD_TOKEN},
        )
        applied.raise_for_status()
        config = self.log_dir / "rod.toml"
        config.write_text(CONFIG)
        env = {
            "GITHUB_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "GITHUB_WEBHOOK_SECRET_PREVIOUS": PREVIOUS_SECRET,
            "GITHUB_TOKEN": GITHUB_TOKEN,
            "GITHUB_API_URL": self.github.url,
            "NOMAD_ADDR": self.nomad.url,
            "NOMAD_TOKEN": NOMAD_TOKEN,
            "CF_ACCESS_CLIENT_SECRET": CF_SECRET,
        }
        register_runner_job(self.nomad.url, NOMAD_TOKEN)  # else /readyz answers 503
        self.dispatcher = ConfiguredDispatcher(env, self.log_dir / "rod-serve.log", config)
        self.dispatcher.start()
        return Endpoints(
            github_url=self.github.url,
            github_token=GITHUB_TOKEN,
            nomad_url=self.nomad.url,
            nomad_token=NOMAD_TOKEN,
            dispatcher_url=self.dispatcher.url,
            webhook_secret=WEBHOOK_SECRET,
        )

    def reset(self) -> None:
        """One scenario per stack here."""
        raise NotImplementedError("SecretBackend runs a single scenario")

    def stop(self) -> None:
        """`rod serve` first (it drains), then the emulators; once."""
        if self.dispatcher is None:
            return
        self.dispatcher.stop()
        self.dispatcher = None
        self.nomad.stop()
        self.github.stop()

    def diagnostics(self) -> str:
        """The dispatcher's last log lines."""
        return self.dispatcher.log_tail(5) if self.dispatcher else "rod serve: not started"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    settings = StackSettings(log_dir=tmp_path, timeout=30.0, job_seconds=0.3)
    with Stack(settings, SecretBackend(tmp_path)) as started:
        yield started


def sign(body: bytes, secret: str = WEBHOOK_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def send_deliveries(url: str, good_payload: dict[str, Any]) -> list[str]:
    """A redelivered good one, one signed with the previous secret, a forged one, an unsigned
    one, a malformed signed one: the response bodies."""
    good = json.dumps(good_payload).encode()
    malformed = b'{"action": "queued", "workflow_job": '
    base = {"Content-Type": "application/json", "X-GitHub-Event": "workflow_job"}
    sent = [
        (good, {**base, "X-GitHub-Delivery": "again", "X-Hub-Signature-256": sign(good)}),
        (
            good,
            {
                **base,
                "X-GitHub-Delivery": "old",
                "X-Hub-Signature-256": sign(good, PREVIOUS_SECRET),
            },
        ),
        (good, {**base, "X-GitHub-Delivery": "forged", "X-Hub-Signature-256": sign(good, "x")}),
        (good, {**base, "X-GitHub-Delivery": "unsigned"}),
        (malformed, {**base, "X-GitHub-Delivery": "bad", "X-Hub-Signature-256": sign(malformed)}),
    ]
    answers = [httpx.post(f"{url}/webhook", content=body, headers=h) for body, h in sent]
    assert [a.status_code for a in answers] == [202, 202, 401, 401, 400]
    return [a.text for a in answers]


def nomad_jobs(url: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The runner job and its children, all fields, and the children's decoded Payloads."""
    headers = {"X-Nomad-Token": NOMAD_TOKEN}
    with httpx.Client(base_url=url, headers=headers) as nomad:
        stubs = nomad.get("/v1/jobs", params={"prefix": "github-runner"}).json()
        jobs, payloads = [], []
        for stub in stubs:
            job = nomad.get(f"/v1/job/{stub['ID']}").json()
            if job.get("ParentID"):
                payloads.append(decode_payload(job))
                job["Allocations"] = nomad.get(f"/v1/job/{stub['ID']}/allocations").json()
            jobs.append(job)
        return jobs, payloads


def credential_variables(url: str) -> list[dict[str, Any]]:
    """The runner credential Variables still stored (metadata)."""
    prefix = "nomad/jobs/github-runner/credentials/"
    listed = httpx.get(
        f"{url}/v1/vars", params={"prefix": prefix}, headers={"X-Nomad-Token": NOMAD_TOKEN}
    )
    variables: list[dict[str, Any]] = listed.json()
    return variables


def finished(snapshot: Snapshot) -> bool:
    """The job ran to completion on a runner and nothing is left running."""
    done = bool(snapshot.jobs) and all(j.status == "completed" for j in snapshot.jobs)
    return done and not snapshot.runners and not snapshot.live_allocations


class TestNoSecrets:
    def test_nothing_leaks_from_a_full_run(
        self, stack: Stack, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.DEBUG)  # the emulators log in this process
        run = stack.start_run([ScriptedJob("build", ("self-hosted", "linux"), 0.3)])
        snapshot = wait_for(
            "the job to run on its runner and everything to drain",
            lambda: stack.observer.snapshot([run["id"]]),
            finished,
            timeout=60,
            describe=lambda s: s.describe(),
        )
        job = snapshot.jobs[0]
        runner_name = job.runner_name or ""
        assert job.conclusion == "success" and runner_name.startswith("rod-")
        hook = stack.hook_id or 0
        deliveries = stack.github.list_deliveries(stack.repo, hook)
        queued = next(d for d in deliveries if d["action"] == "queued")
        good_payload = stack.github.get_delivery(stack.repo, hook, queued["id"])["request"][
            "payload"
        ]
        evidence: dict[str, str] = {}
        evidence["webhook answers"] = "\n".join(
            send_deliveries(stack.endpoints.dispatcher_url, good_payload)
        )
        evidence["/metrics"] = httpx.get(f"{stack.endpoints.dispatcher_url}/metrics").text
        jobs, payloads = nomad_jobs(stack.endpoints.nomad_url)
        evidence["Nomad jobs (Payloads too)"] = json.dumps([*jobs, *payloads])
        # Used, so destroyed by the reconciler (issue 10 item 3).
        wait_for(
            "the used credential's Variable to be destroyed",
            lambda: credential_variables(stack.endpoints.nomad_url),
            lambda left: left == [],
            timeout=30,
        )
        evidence["GitHub deliveries"] = json.dumps(deliveries)
        backend = stack.backend
        assert isinstance(backend, SecretBackend)
        task_logs = sorted(Path(backend.nomad.backend.data_dir).glob("*/alloc/logs/*"))
        assert task_logs, "the runner task left no logs"
        runner_output = "".join(path.read_text(errors="replace") for path in task_logs)
        evidence["runner task logs"] = runner_output
        stack.stop()  # rod serve drains and writes its last lines
        evidence["rod serve log"] = (tmp_path / "rod-serve.log").read_text(errors="replace")
        evidence["emulator logs"] = caplog.text

        # The JIT config and the runner secret inside it, from the one place they belong.
        assert len(payloads) == 1 and "jit_config" not in payloads[0]
        assert backend.written == [{"jit_config": backend.written[0]["jit_config"]}]
        jit_config = backend.written[0]["jit_config"]
        runner = json.loads(
            base64.b64decode(json.loads(base64.b64decode(jit_config))[".credentials"])
        )
        secret_values = {
            "webhook secret": WEBHOOK_SECRET,
            "previous webhook secret": PREVIOUS_SECRET,
            "GitHub token": GITHUB_TOKEN,
            "Nomad token": NOMAD_TOKEN,
            "Cloudflare secret": CF_SECRET,
            "JIT config": jit_config,
            "runner credential": runner["Data"]["token"],
        }
        assert all(len(value) >= 16 for value in secret_values.values())
        assert "rod-" in evidence["rod serve log"] and "dispatched" in evidence["rod serve log"]
        assert runner_name in runner_output  # the logs searched are the runner's
        assert (
            "delivery old signed with GITHUB_WEBHOOK_SECRET_PREVIOUS" in evidence["rod serve log"]
        )
        assert "rod_webhook_previous_secret_total 1.0" in evidence["/metrics"]
        leaks = [
            f"{what} in {where}"
            for where, text in evidence.items()
            for what, value in secret_values.items()
            if value in text
        ]
        assert leaks == []
