"""rod demo: the pull request it opens, when it is over, and as a process: it passes, and neither
the end nor Ctrl-C leaves a process or a file behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from simulator.harness.demo import finished, pull_request_jobs
from simulator.harness.observe import AllocationView, ChildView, JobView, RunnerView, Snapshot

DONE = JobView(1, 10, "build", ("self-hosted", "linux"), "completed", "success", 5, "rod-1-1")
META = {"RUNNER_NAME": "rod-1-1", "GITHUB_JOB_ID": "1"}
RUNNER = RunnerView(5, "rod-1-1", "online", True, ("self-hosted", "linux"))


def child(allocation: str) -> ChildView:
    return ChildView(
        "github-runner/dispatch-1-a", "dead", META, (AllocationView("a1", allocation),)
    )


class TestPullRequestJobs:
    def test_distinct_self_hosted_label_sets_then_one_hosted_job(self) -> None:
        jobs = pull_request_jobs(3, 1.0)
        assert len(jobs) == 4
        assert all(job.self_hosted for job in jobs[:3])
        assert len({job.labels for job in jobs[:3]}) == 3
        assert jobs[-1].labels == ("ubuntu-latest",) and not jobs[-1].self_hosted

    def test_names_stay_unique_beyond_the_label_sets(self) -> None:
        jobs = pull_request_jobs(9, 1.0)
        names = [job.name for job in jobs]
        assert len(set(names)) == len(names) == 10


class TestFinished:
    def test_waits_for_every_job_and_for_the_drain(self) -> None:
        done = Snapshot(jobs=(DONE,), children=(child("complete"),))
        assert finished(done, expected_jobs=1)
        assert not finished(done, expected_jobs=2)
        assert not finished(Snapshot(jobs=done.jobs, children=(child("running"),)), 1)
        assert not finished(Snapshot(jobs=done.jobs, runners=(RUNNER,)), 1)


MARK = "RUNNERS_ON_DEMAND_DEMO_TEST"  # inherited by every process the demo starts


def marked(value: str) -> list[str]:
    """The live processes whose environment carries MARK=value (the demo and its children)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            environ = (proc / "environ").read_bytes().split(b"\0")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue  # gone, or not ours to read
        if f"{MARK}={value}".encode() in environ and state != "Z":
            found.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode())
    return found


def demo(tmp_path: Path) -> tuple[subprocess.Popen[str], str]:
    """`rod demo` (one short job) with its temporary files under tmp_path."""
    value = tmp_path.name
    env = {**os.environ, MARK: value, "TMPDIR": str(tmp_path)}
    # As from a terminal, Ctrl-C must reach it: an ignored SIGINT stays ignored across exec, and
    # a background job of a non-interactive shell (a CI script's `cmd &`) starts with it ignored.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        process = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("rod")),
                "demo",
                "--jobs",
                "1",
                "--job-seconds",
                "3",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    return process, value


class TestAsAProcess:
    def test_passes_and_leaves_no_process_and_no_file(self, tmp_path: Path) -> None:
        process, value = demo(tmp_path)
        output = process.communicate(timeout=120)[0]
        assert process.returncode == 0, output
        assert output.rstrip().endswith(
            "1 runners dispatched for 1 self-hosted jobs; 0 runners "
            "and 0 live allocations remain. PASS"
        )
        assert marked(value) == [] and list(tmp_path.iterdir()) == []

    def test_ctrl_c_mid_run_leaves_no_process_and_no_file(self, tmp_path: Path) -> None:
        process, value = demo(tmp_path)
        assert process.stdout is not None
        lines = []
        for line in process.stdout:  # the runner is up, its job runs for 3 s
            lines.append(line)
            if "in_progress on rod-" in line:
                break
        process.send_signal(signal.SIGINT)
        output = "".join(lines) + process.communicate(timeout=60)[0]
        assert process.returncode != 0, output
        assert "PASS" not in output and "Traceback" not in output
        assert marked(value) == [] and list(tmp_path.iterdir()) == []
