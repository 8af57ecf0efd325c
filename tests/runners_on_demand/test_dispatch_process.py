"""`rod serve`'s dispatch process (dispatch_process.py), as a real server carries runners out.

The GitHub and Nomad emulators over HTTP, `rod serve` as a real process: the runner is made, its
credential stored and its child dispatched by the forked child process; the child ignores
SIGTERM and ends with the server; a child that dies stops the server with exit status 1.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from simulator.github import GitHubEmulator
from simulator.harness.faults import signature
from simulator.nomad import NomadEmulator
from simulator.serving import free_port
from tests.runners_on_demand.reconcile.conftest import register_runner_job
from tests.runners_on_demand.test_serve import ROD, SECRET, TOKEN, environment

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "workflow_job" / "06.queued.json"
REPO = "lineville/elastic-machines-testing"  # the sample's repository


@dataclass
class Served:
    """A `rod serve` process, its URL, and the Nomad emulator it dispatches to."""

    process: subprocess.Popen[str]
    url: str
    nomad: NomadEmulator

    def children(self) -> list[int]:
        """The server's child processes."""
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in path.read_text().split()]

    def deliver(self, job_id: int, repo: str = REPO) -> httpx.Response:
        """A signed `queued` delivery of the sample, with its own job id (and repository)."""
        document = json.loads(SAMPLE.read_text())
        document["workflow_job"]["id"] = job_id
        owner, name = repo.split("/")
        html_url = f"https://github.com/{repo}"
        document["repository"].update(full_name=repo, name=name, html_url=html_url)
        document["repository"]["owner"]["login"] = owner
        document["workflow_job"]["status"] = "queued"  # approved: the example awaits approval
        body = json.dumps(document).encode()
        headers = {
            "Content-Type": "application/json",
            "X-GitHub-Event": "workflow_job",
            "X-GitHub-Delivery": f"d-{job_id}",
            "X-Hub-Signature-256": signature(SECRET, body),
        }
        return httpx.post(f"{self.url}/webhook", content=body, headers=headers, timeout=10)

    def dispatched(self, runner: str, timeout: float = 30.0) -> dict[str, object]:
        """The Nomad child dispatched for `runner` (its name is the idempotency token)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:  # waiting for the work, not timing it
            for job in httpx.get(
                f"{self.nomad.url}/v1/jobs", params={"prefix": "github-runner/"}
            ).json():
                found = httpx.get(f"{self.nomad.url}/v1/job/{job['ID']}").json()
                if found.get("DispatchIdempotencyToken") == runner:
                    return found
            time.sleep(0.2)
        raise AssertionError(f"no Nomad child for {runner}; log: {self.log()}")

    def log(self) -> str:
        """What the server wrote, once it has exited (reading sooner would block)."""
        if self.process.poll() is None or self.process.stderr is None:
            return "(still running)"
        return self.process.stderr.read()

    def ready(self) -> dict[str, str]:
        """The server's /readyz, which is 503 unless everything is ready."""
        answer = httpx.get(f"{self.url}/readyz", timeout=10)
        body: dict[str, str] = answer.json()
        assert (answer.status_code == 200) == (body.get("runner_jobs") == "ok"), body
        return body

    def metric(self, name: str, **labels: str) -> float | None:
        """One sample of the server's /metrics."""
        text = httpx.get(f"{self.url}/metrics", timeout=10).text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and all(
                    sample.labels.get(k) == v for k, v in labels.items()
                ):
                    return sample.value
        return None


@contextmanager
def serving(
    nomad: NomadEmulator, tmp_path: Path, config: str = "", *, probe: str = "/readyz"
) -> Iterator[tuple[Served, GitHubEmulator]]:
    """`rod serve` (its dispatch process on, the default) against both emulators, once `probe`
    answers 200."""
    github = GitHubEmulator(tokens=[TOKEN]).start()
    github.backend.create_repo(REPO)
    path = tmp_path / "rod.toml"
    path.write_text(f"{config}\n[reconcile]\ninterval_seconds = 0\n")
    port = free_port()
    env = environment(
        GITHUB_WEBHOOK_SECRET=SECRET,
        GITHUB_TOKEN=TOKEN,
        GITHUB_API_URL=github.url,
        NOMAD_ADDR=nomad.url,
    )
    command = [ROD, "serve", "--config", str(path), "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:  # wait until it is ready; not a timing assertion
            try:
                if httpx.get(f"{url}{probe}", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.communicate()[1]
            assert time.monotonic() < deadline, "rod serve did not become ready"
            time.sleep(0.1)
        yield Served(process, url, nomad), github
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
        github.stop()


@pytest.fixture
def served(processes: NomadEmulator, tmp_path: Path) -> Iterator[Served]:
    """`rod serve` against both emulators, the runner job registered."""
    with serving(processes, tmp_path) as (served, _):
        yield served


def niceness(pid: int) -> int:
    """A process's nice value (/proc/PID/stat, field 19)."""
    return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[16])


class TestDispatchProcess:
    def test_the_child_process_carries_the_runner_out(self, served: Served) -> None:
        (child,) = served.children()
        assert niceness(child) > niceness(served.process.pid)  # the intake goes first
        answer = served.deliver(70_000_000_001)
        assert answer.status_code == 202
        runner = answer.json()["queued"]
        found = served.dispatched(runner)
        assert found["ParentID"] == "github-runner"
        variable = f"nomad/jobs/github-runner/credentials/{runner}"
        listed = httpx.get(f"{served.nomad.url}/v1/vars", params={"prefix": variable}).json()
        assert [v["Path"] for v in listed] == [variable]
        # Counted by the serving process from the child's answer; the quota as the child saw it.
        assert served.metric("rod_dispatches_total", outcome="dispatched") == 1.0
        remaining = served.metric("rod_github_rate_limit_remaining")
        assert remaining is not None and not math.isnan(remaining)

    def test_the_child_ignores_sigterm_and_ends_with_the_server(self, served: Served) -> None:
        (child,) = served.children()
        os.kill(child, signal.SIGTERM)
        answer = served.deliver(70_000_000_002)
        served.dispatched(answer.json()["queued"])  # still carried out by the same child
        assert served.children() == [child]
        served.process.send_signal(signal.SIGTERM)
        _, stderr = served.process.communicate(timeout=60)
        assert served.process.returncode == 0, stderr
        assert not Path(f"/proc/{child}").exists()  # ended, and reaped by the server
        assert "Traceback" not in stderr

    def test_a_dead_child_stops_the_server_with_status_1(self, served: Served) -> None:
        (child,) = served.children()
        os.kill(child, signal.SIGKILL)
        _, stderr = served.process.communicate(timeout=60)
        assert served.process.returncode == 1
        assert "the dispatch process exited (code -9); stopping so rod serve is started again" in (
            stderr
        )


def until(condition: Callable[[], bool], what: str) -> None:
    """Wait until `condition()` holds (waiting for the work, not timing it)."""
    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.1)


def jit_calls(github: GitHubEmulator, repo: str = REPO) -> int:
    """How many generate-jitconfig calls GitHub had (each a runner made, 5 points spent)."""
    path = f"/repos/{repo}/actions/runners/generate-jitconfig"
    params = {"method": "POST", "path": path}
    return len(httpx.get(f"{github.url}/_sim/requests", params=params).json())


@pytest.fixture
def unregistered() -> Iterator[NomadEmulator]:
    """Nomad without the runner job: the operator has not run `nomad job run` yet."""
    emulator = NomadEmulator(driver="inprocess").start()
    yield emulator
    emulator.stop()


class TestRunnerJobMissing:
    """While the runner job cannot be dispatched, rod makes no runner for it; its jobs wait and
    each gets exactly one runner once it is registered."""

    JOBS = range(70_000_000_101, 70_000_000_107)

    def wait_then_register(self, served: Served, github: GitHubEmulator, made: int) -> None:
        runners = [served.deliver(job).json()["queued"] for job in self.JOBS]

        def settled() -> bool:  # each runner waits (or, without the hold, was refused)
            held = served.metric("rod_runner_job_held", job="github-runner")
            refused = served.metric("rod_dispatches_total", outcome="rejected")
            return len(runners) in (held, refused)

        until(settled, "every runner waiting for the runner job")
        assert jit_calls(github) == made  # on main: one JIT runner per job, for nothing
        waiting = f"{len(runners)} runners wait until runner job github-runner can be dispatched"
        # /readyz answers from a probe of the last few seconds: wait for a fresh one
        until(lambda: waiting in served.ready().get("runner_jobs", ""), "/readyz saying so")

        register_runner_job(served.nomad)  # nomad job run github-runner.nomad.hcl
        children = [served.dispatched(runner)["ID"] for runner in runners]
        assert len(set(children)) == len(runners)  # one child each
        listed = httpx.get(
            f"{github.url}/repos/{REPO}/actions/runners",
            headers={"Authorization": f"Bearer {TOKEN}"},
        ).json()["runners"]
        assert sorted(r["name"] for r in listed) == sorted(runners)  # one runner each
        until(lambda: served.metric("rod_runner_job_held", job="github-runner") is None, "free")
        assert served.metric("rod_dispatches_total", outcome="dispatched") == len(runners)

    def test_missing_at_start(self, unregistered: NomadEmulator, tmp_path: Path) -> None:
        config = "[server]\nrunner_job_recheck_seconds = 0.2\n"
        with serving(unregistered, tmp_path, config, probe="/healthz") as (served, github):
            until(
                lambda: served.metric("rod_runner_job_held", job="github-runner") == 0,
                "the start-up check heard",
            )
            self.wait_then_register(served, github, made=0)

    def test_stopped_while_serving(self, registered: NomadEmulator, tmp_path: Path) -> None:
        config = "[server]\nworkers = 1\nrunner_job_recheck_seconds = 0.2\n"
        with serving(registered, tmp_path, config) as (served, github):
            assert httpx.delete(f"{registered.url}/v1/job/github-runner").is_success  # job stop
            # one worker: its dispatch is refused (through the dispatch process), the rest wait
            self.wait_then_register(served, github, made=1)


class TestBackoff:
    """A runner whose GitHub calls keep failing for its repository waits out its backoff in the
    dispatch process without holding a worker: another repository's runner goes ahead."""

    def test_one_broken_repository_does_not_block_the_others(
        self, registered: NomadEmulator, tmp_path: Path
    ) -> None:
        broken = "lineville/broken"
        with serving(registered, tmp_path, "[server]\nworkers = 1\n") as (served, github):
            github.backend.create_repo(broken)
            fault = {
                "method": "POST",
                "path": f"/repos/{broken}/actions/runners/generate-jitconfig",
                "count": 1000,
                "status": 502,
            }
            httpx.post(f"{github.url}/_sim/faults", json=fault).raise_for_status()
            waiting = served.deliver(70_000_000_201, repo=broken).json()["queued"]
            # the one worker took the broken one first; on main it sleeps in its backoff
            until(lambda: jit_calls(github, broken) >= 1, "the broken repository's runner tried")
            runner = served.deliver(70_000_000_202).json()["queued"]
            served.dispatched(runner)
            assert served.metric("rod_dispatches_total", outcome="dispatched") == 1.0
            children = httpx.get(f"{registered.url}/v1/jobs", params={"prefix": "github-runner/"})
            tokens = [
                httpx.get(f"{registered.url}/v1/job/{job['ID']}").json()["DispatchIdempotencyToken"]
                for job in children.json()
            ]
            assert tokens == [runner] and waiting != runner  # its child, and none of the other
