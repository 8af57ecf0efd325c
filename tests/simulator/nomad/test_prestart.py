"""simulator.nomad.prestart, through a served emulator: templates gate the start, identities."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from simulator.nomad import NomadEmulator

from .conftest import wait_until

REPORT = """
import json, os, sys
env = {k: v for k, v in os.environ.items() if k in ("A", "B", "NOMAD_TOKEN", "OVERRIDDEN")}
files = {}
for name in ("secrets/out.env", "secrets/nomad_token"):
    if os.path.exists(name):
        files[name] = open(name).read()
print(json.dumps({"env": env, "files": files}), flush=True)
"""
ENV_TEMPLATE = (
    '{{ with nomadVar "nomad/jobs/parent" }}{{ range .Tuples }}'
    "{{ .K }}={{ toJSON .V }}\n{{ end }}{{ end }}"
)


def job(script: Path, **task_extra: Any) -> dict[str, Any]:
    task = {
        "Name": "t",
        "Driver": "raw_exec",
        "Config": {"command": sys.executable, "args": [str(script)]},
        "Env": {"OVERRIDDEN": "from-env-block"},
        "Templates": [
            {"EmbeddedTmpl": ENV_TEMPLATE, "DestPath": "secrets/out.env", "Envvars": True}
        ],
        **task_extra,
    }
    group = {"Name": "g", "Tasks": [task], "RestartPolicy": {"Attempts": 0, "Mode": "fail"}}
    return {
        "ID": "parent",
        "Type": "batch",
        "TaskGroups": [group],
        "ParameterizedJob": {"Payload": "optional"},
    }


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[NomadEmulator, httpx.Client, Path]]:
    script = tmp_path / "report.py"
    script.write_text(REPORT)
    emu = NomadEmulator(driver="process", acl_token="root").start()
    client = httpx.Client(base_url=emu.url, timeout=10, headers={"X-Nomad-Token": "root"})
    try:
        yield emu, client, script
    finally:
        client.close()
        emu.stop()


def child_alloc(client: httpx.Client) -> dict[str, Any]:
    child = client.post("/v1/job/parent/dispatch", json={}).json()["DispatchedJobID"]
    (alloc,) = client.get(f"/v1/job/{child}/allocations").json()
    result: dict[str, Any] = alloc
    return result


def alloc_of(client: httpx.Client, alloc: dict[str, Any]) -> dict[str, Any]:
    (now,) = client.get(f"/v1/job/{alloc['JobID']}/allocations").json()
    result: dict[str, Any] = now
    return result


def report(emu: NomadEmulator, alloc: dict[str, Any]) -> dict[str, Any]:
    path = Path(emu.backend.alloc_dir(alloc["ID"])) / "alloc/logs/t.stdout.0"
    result: dict[str, Any] = json.loads(path.read_text())
    return result


class TestTemplatesGateTheStart:
    def test_a_missing_variable_keeps_the_task_pending_until_written(self, served: Any) -> None:
        emu, client, script = served
        assert client.post("/v1/jobs", json={"Job": job(script)}).status_code == 200
        alloc = child_alloc(client)
        assert alloc["ClientStatus"] == "pending"
        events = alloc["TaskStates"]["t"]["Events"]
        assert (events[-1]["Type"], events[-1]["DisplayMessage"]) == (
            "Template",
            "Missing: nomad.var.block(nomad/jobs/parent@default.global)",
        )
        # The child's identity is its parent's (Job.GetIDforWorkloadIdentity): it reads
        # nomad/jobs/parent without any policy.
        items = {"A": 'p#ss w"rd\nline2', "B": "<&>", "OVERRIDDEN": "from-template"}
        assert client.put("/v1/var/nomad/jobs/parent", json={"Items": items}).status_code == 200
        wait_until(lambda: alloc_of(client, alloc)["ClientStatus"] == "complete", "the task ran")
        got = report(emu, alloc)
        assert got["env"] == items  # env = true templates override the env block
        assert "p#ss" in got["files"]["secrets/out.env"]

    def test_an_unreadable_env_file_fails_the_task(self, served: Any) -> None:
        _, client, script = served
        broken = {"EmbeddedTmpl": "A=1\nB\n", "DestPath": "secrets/out.env", "Envvars": True}
        assert (
            client.post("/v1/jobs", json={"Job": job(script, Templates=[broken])}).status_code
            == 200
        )
        alloc = alloc_of(client, child_alloc(client))
        assert alloc["ClientStatus"] == "failed"
        last = alloc["TaskStates"]["t"]["Events"][-1]
        assert last["Type"] == "Killing" and last["FailsTask"] is True
        assert "error on line 2: missing =" in last["DisplayMessage"]

    def test_stopping_a_blocked_child_ends_it(self, served: Any) -> None:
        _, client, script = served
        client.post("/v1/jobs", json={"Job": job(script)})
        alloc = child_alloc(client)
        client.delete(f"/v1/job/{alloc['JobID']}")
        assert alloc_of(client, alloc)["ClientStatus"] == "complete"
        client.put("/v1/var/nomad/jobs/parent", json={"Items": {"A": "1"}})
        assert alloc_of(client, alloc)["TaskStates"]["t"]["State"] == "dead"


class TestIdentity:
    def test_env_and_file_tokens_act_as_the_parent_job(self, served: Any) -> None:
        emu, client, script = served
        spec = job(
            script, Templates=[], Identities=[{"Name": "default", "Env": True, "File": True}]
        )
        client.post("/v1/jobs", json={"Job": spec})
        alloc = child_alloc(client)
        wait_until(lambda: alloc_of(client, alloc)["ClientStatus"] == "complete", "the task ran")
        got = report(emu, alloc)
        token = got["env"]["NOMAD_TOKEN"]
        assert got["files"]["secrets/nomad_token"] == token
        # The allocation is over: its identity is no longer accepted (`allocation is terminal`).
        denied = httpx.get(f"{emu.url}/v1/var/nomad/jobs/parent", headers={"X-Nomad-Token": token})
        assert denied.status_code == 403

    def test_a_live_workload_reads_its_own_paths_only(self, served: Any) -> None:
        emu, client, _ = served
        code = 'import os, time; print(os.environ["NOMAD_TOKEN"], flush=True); time.sleep(30)'
        waiting = {"command": sys.executable, "args": ["-c", code]}
        spec = job(Path("unused"), Templates=[], Config=waiting,
                   Identities=[{"Name": "default", "Env": True}])  # fmt: skip
        client.post("/v1/jobs", json={"Job": spec})
        alloc = child_alloc(client)
        log = Path(emu.backend.alloc_dir(alloc["ID"])) / "alloc/logs/t.stdout.0"
        wait_until(lambda: log.exists() and log.read_text().endswith("\n"), "the token printed")
        workload = {"X-Nomad-Token": log.read_text().strip()}
        for path in ("nomad/jobs/parent", "nomad/jobs/other"):
            client.put(f"/v1/var/{path}", json={"Items": {"k": "v"}})
        assert httpx.get(f"{emu.url}/v1/var/nomad/jobs/parent", headers=workload).status_code == 200
        assert httpx.get(f"{emu.url}/v1/var/nomad/jobs/other", headers=workload).status_code == 403
        listed = httpx.get(f"{emu.url}/v1/vars", headers=workload).json()
        assert [v["Path"] for v in listed] == ["nomad/jobs/parent"]
        assert httpx.get(f"{emu.url}/v1/jobs", headers=workload).status_code == 403
        client.delete(f"/v1/job/{alloc['JobID']}")
