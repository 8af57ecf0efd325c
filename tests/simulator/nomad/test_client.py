"""simulator.nomad.client: the real runner spec dispatched and run as a child process."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from simulator.nomad import NomadEmulator

from .conftest import RUNNER_META, SPEC, b64, variables, wait_until

FAKE_RUNNER = """
import json, os, signal, sys, time
mode = os.environ["NOMAD_META_RUNNER_LABELS"]
with open(os.path.join(os.environ["NOMAD_TASK_DIR"], "payload.json")) as f:
    payload = f.read()
env = {k: v for k, v in os.environ.items() if k.startswith("NOMAD_") or k == "PATH"}
report = {"payload": payload, "env": env, "cwd": os.getcwd(), "pid": os.getpid()}
print(json.dumps(report), flush=True)
if mode == "wait":
    signal.signal(signal.SIGTERM, lambda *a: (print("SIGTERM", flush=True), sys.exit(0)))
    print("waiting", flush=True)
    time.sleep(60)
sys.exit(7 if mode == "fail" else 0)
"""
PAYLOAD = '{"repo":"octo/hello","url":"https://github.com/octo/hello"}'


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[NomadEmulator, httpx.Client]]:
    script = tmp_path / "fake_runner.py"
    script.write_text(FAKE_RUNNER)
    emu = NomadEmulator(driver="process").start()
    client = httpx.Client(base_url=emu.url, timeout=10)
    try:
        parsed = client.post(
            "/v1/jobs/parse",
            json={
                "JobHCL": SPEC.read_text(),
                "Variables": variables(sys.executable, [str(script)]),
            },
        )
        assert client.post("/v1/jobs", json={"Job": parsed.json()}).status_code == 200
        yield emu, client
    finally:
        client.close()
        emu.stop()


def dispatch(client: httpx.Client, mode: str, token: str) -> str:
    # The runner job's template waits for the credential Variable, which rod writes first.
    credential = f"/v1/var/nomad/jobs/github-runner/credentials/{RUNNER_META['RUNNER_NAME']}"
    assert client.put(credential, json={"Items": {"jit_config": "abc"}}).status_code == 200
    response = client.post(
        "/v1/job/github-runner/dispatch",
        params={"idempotency_token": token},
        json={"Meta": {**RUNNER_META, "RUNNER_LABELS": mode}, "Payload": b64(PAYLOAD)},
    )
    assert response.status_code == 200, response.text
    return str(response.json()["DispatchedJobID"])


def only_alloc(client: httpx.Client, job_id: str) -> dict[str, Any]:
    (alloc,) = client.get(f"/v1/job/{job_id}/allocations").json()
    result: dict[str, Any] = alloc
    return result


def stdout(emu: NomadEmulator, alloc_id: str) -> str:
    return (Path(emu.backend.alloc_dir(alloc_id)) / "alloc/logs/runner.stdout.0").read_text()


class TestRunnerSpecAsProcess:
    def test_payload_env_and_complete(self, served: tuple[NomadEmulator, httpx.Client]) -> None:
        emu, client = served
        child = dispatch(client, "ok", "rod-200-1")
        wait_until(lambda: client.get(f"/v1/job/{child}").json()["Status"] == "dead", "child dead")
        alloc = only_alloc(client, child)
        assert alloc["ClientStatus"] == "complete"
        assert alloc["TaskStates"]["runner"]["Events"][-1]["ExitCode"] == 0
        report = json.loads(stdout(emu, alloc["ID"]).splitlines()[0])
        alloc_path = emu.backend.alloc_dir(alloc["ID"])
        assert report["payload"] == PAYLOAD
        assert report["cwd"] == f"{alloc_path}/runner"
        env = report["env"]
        assert env["NOMAD_TASK_DIR"] == f"{alloc_path}/runner/local"
        assert env["NOMAD_ALLOC_DIR"] == f"{alloc_path}/alloc"
        assert env["NOMAD_ALLOC_ID"] == alloc["ID"]
        assert env["NOMAD_JOB_ID"] == child and env["NOMAD_JOB_PARENT_ID"] == "github-runner"
        assert env["NOMAD_META_RUNNER_NAME"] == "rod-200-1"
        assert env["NOMAD_META_managed_by"] == env["NOMAD_META_MANAGED_BY"] == "runners-on-demand"
        assert env["PATH"]
        summary = client.get("/v1/job/github-runner/summary").json()
        assert summary["Children"] == {"Pending": 0, "Running": 0, "Dead": 1}

    def test_nonzero_exit_fails_without_restart(
        self, served: tuple[NomadEmulator, httpx.Client]
    ) -> None:
        _, client = served
        child = dispatch(client, "fail", "rod-201-1")
        wait_until(lambda: client.get(f"/v1/job/{child}").json()["Status"] == "dead", "child dead")
        alloc = only_alloc(client, child)
        task = alloc["TaskStates"]["runner"]
        assert alloc["ClientStatus"] == "failed"
        assert task["Failed"] is True and task["Restarts"] == 0
        assert [e["ExitCode"] for e in task["Events"] if e["Type"] == "Terminated"] == [7]

    def test_stop_sends_sigterm(self, served: tuple[NomadEmulator, httpx.Client]) -> None:
        emu, client = served
        child = dispatch(client, "wait", "rod-202-1")
        alloc_id = only_alloc(client, child)["ID"]
        wait_until(lambda: "waiting" in stdout(emu, alloc_id), "runner to start")
        assert client.get(f"/v1/job/{child}").json()["Status"] == "running"
        assert client.delete(f"/v1/job/{child}").status_code == 200
        # dead at once (its allocation is desired-stop); the task exits on SIGTERM after that
        assert client.get(f"/v1/job/{child}").json()["Status"] == "dead"
        wait_until(lambda: only_alloc(client, child)["ClientStatus"] == "complete", "task exit")
        assert stdout(emu, alloc_id).endswith("waiting\nSIGTERM\n")
        alloc = only_alloc(client, child)
        assert (alloc["DesiredStatus"], alloc["ClientStatus"]) == ("stop", "complete")
        # The stopped child still holds its token until GC.
        assert dispatch(client, "ok", "rod-202-1") == child
        client.put("/v1/system/gc")
        assert dispatch(client, "ok", "rod-202-1") != child

    def test_reset_kills_running_tasks(self, served: tuple[NomadEmulator, httpx.Client]) -> None:
        emu, client = served
        child = dispatch(client, "wait", "rod-203-1")
        alloc_id = only_alloc(client, child)["ID"]
        wait_until(lambda: "waiting" in stdout(emu, alloc_id), "runner to start")
        pid = json.loads(stdout(emu, alloc_id).splitlines()[0])["pid"]
        data_dir = emu.backend.data_dir
        client.post("/_sim/reset")
        assert not Path(data_dir).exists()
        wait_until(lambda: not _alive(pid), "the runner process to be killed")
        assert client.get("/v1/jobs").json() == []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
