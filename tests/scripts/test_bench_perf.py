"""scripts/bench_perf.py at toy scale: its phases run, every job reaches Nomad, the table prints.

The benchmark prints figures and asserts nothing; this checks its machinery (servers, stand-ins,
paced client, burst against the emulator) on a few dozen deliveries. No figure is judged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "bench_perf.py"


def bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )


def test_the_phases_run_and_lose_nothing(tmp_path: Path) -> None:
    figures = tmp_path / "figures.json"
    done = bench(
        *("--only", "inproc,ack,latency,outbound,memory,burst", "--repeat", "1"),
        *("--ack-rate", "50", "--ack-seconds", "1", "--latency-seconds", "1"),
        *("--outbound-jobs", "40", "--memory-deliveries", "60", "--burst-jobs", "12"),
        *("--json", str(figures)),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(figures.read_text())
    latency = out["latency"][0]
    assert latency["dispatched"] == latency["count"] == 25
    assert out["outbound"][0]["dispatched"] == 40
    for stack, runs in out["ack"].items():
        assert runs[0]["rod"]["statuses"] == {"202": 50}, stack
        assert runs[0]["bare"]["statuses"] == {"202": 50}, stack
        own = runs[0]["rod"]["own"]  # from rod's histogram: shares, not timings, are checked
        assert 0 <= own["within_1ms"] <= own["within_10ms"] <= 1, (stack, own)
    burst = out["burst"]
    assert (burst["lost"], burst["duplicates"], burst["refused"]) == (0, 0, {})
    assert "rod's own time:" in done.stdout
    for row in ("acknowledge at 50/s", "in-process", "queued -> dispatch", "outbound capacity"):
        assert row in done.stdout
    # rod serve and its dispatch process, both measured
    assert out["memory"]["processes"] == len(out["memory"]["each_drained"]) == 2
    assert "RSS of each process, dispatched: " in done.stdout
    assert "RSS (PSS) of 2 processes after 60 deliveries" in done.stdout
    assert "paced burst of 12 jobs" in done.stdout


@pytest.mark.skipif(shutil.which("wrk") is None, reason="the throughput phase needs wrk")
def test_the_throughput_sides_take_turns_and_rod_sees_each_delivery_once(tmp_path: Path) -> None:
    figures = tmp_path / "figures.json"
    done = bench(
        *("--only", "throughput", "--repeat", "1", "--json", str(figures)),
        *("--throughput-seconds", "2", "--slice-seconds", "1", "--connections", "4"),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for stack, (run,) in json.loads(figures.read_text())["throughput"].items():
        for side in ("bare", "signed", "rod"):
            assert run[side]["requests"] > 0 and run[side]["non_2xx"] == 0, (stack, side)
            assert run[side]["cpu_ms"] > 0, (stack, side)
        assert run["rod"]["duplicates"] == 0, stack  # two slices, distinct deliveries each
    assert "throughput, rod / bare" in done.stdout


def test_options_that_cannot_work_are_refused_in_one_line() -> None:
    done = bench("--only", "nope")
    assert done.returncode == 2 and "unknown phase(s) nope" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_signed_app_checks_each_signature_and_reads_the_fields(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The throughput phase's middle line: the bare app plus the work no dispatcher can skip.
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))
    from perf.deliveries import SECRET, delivery
    from perf.servers import Server

    body, headers = delivery(7)
    unreadable = body.replace(b'"workflow_job"', b'"workflow_jab"', 1)
    resigned = "sha256=" + hmac.new(SECRET.encode(), unreadable, hashlib.sha256).hexdigest()
    with Server("signed", "--stack", "plain") as server:
        url = server.wait_ready().url + "/webhook"
        assert httpx.post(url, content=body, headers=headers).status_code == 202
        forged = delivery(7, secret="not-the-secret")[1]
        assert httpx.post(url, content=body, headers=forged).status_code == 401
        signed = headers | {"X-Hub-Signature-256": resigned}
        assert httpx.post(url, content=unreadable, headers=signed).status_code == 401
