"""simulator.nomad.state: lifecycle tables and Nomad's job status rules."""

from __future__ import annotations

import pytest

from simulator.lifecycle import IllegalTransition
from simulator.nomad.jobspec import canonicalize
from simulator.nomad.state import (
    ALLOCATION,
    TASK,
    Allocation,
    JobRecord,
    TaskRun,
    client_status,
    job_status,
)

from .conftest import batch_job, parameterized_job


class TestLifecycles:
    def test_allocation_table(self) -> None:
        assert ALLOCATION.check("pending", "running") == "running"
        assert ALLOCATION.is_terminal("complete") and ALLOCATION.is_terminal("failed")
        with pytest.raises(IllegalTransition):
            ALLOCATION.check("complete", "running")

    def test_task_table(self) -> None:
        assert TASK.check("running", "pending") == "pending"  # a restart
        with pytest.raises(IllegalTransition):
            TASK.check("dead", "running")


class TestJobStatus:
    def test_parent_running_until_stopped(self) -> None:
        record = JobRecord(canonicalize(parameterized_job(), "default"))
        assert job_status(record, []) == "running"
        record.job["Stop"] = True
        assert job_status(record, []) == "dead"

    def test_batch_pending_when_queued_dead_when_nothing_left(self) -> None:
        record = JobRecord(canonicalize(batch_job(), "default"), queued={"g": 1})
        assert job_status(record, []) == "pending"
        record.queued["g"] = 0
        assert job_status(record, []) == "dead"

    @pytest.mark.parametrize(
        ("desired", "client", "status"),
        [
            ("run", "running", "running"),
            ("run", "complete", "dead"),
            ("stop", "running", "dead"),  # ServerTerminalStatus: the task is still shutting down
            ("evict", "pending", "dead"),
        ],
    )
    def test_a_child_goes_by_its_allocations_terminal_status(
        self, desired: str, client: str, status: str
    ) -> None:
        # Allocation.TerminalStatus = ServerTerminalStatus || ClientTerminalStatus (alloc.go)
        record = JobRecord(canonicalize(batch_job(), "default"))
        alloc = allocation(record, desired, client)
        assert (alloc.terminal_status, alloc.client_terminal) == (
            status == "dead",
            client == "complete",
        )
        assert job_status(record, [alloc]) == status


def allocation(record: JobRecord, desired: str, client: str) -> Allocation:
    tasks = {"t": TaskRun("t")}
    return Allocation(
        "a", "e", "default", record.job["ID"], record.job, "g", 0, "n", "node", "/x", 1, 1, 100,
        100, tasks, desired_status=desired, client_status=client,
    )  # fmt: skip


def run(state: str, failed: bool = False) -> TaskRun:
    return TaskRun("t", state=state, failed=failed)


class TestClientStatus:
    @pytest.mark.parametrize(
        ("runs", "status"),
        [
            ([run("pending")], "pending"),
            ([run("running"), run("pending")], "running"),
            ([run("dead"), run("running")], "running"),
            ([run("dead"), run("dead")], "complete"),
            ([run("dead", failed=True), run("dead")], "failed"),
        ],
    )
    def test_derived_from_tasks(self, runs: list[TaskRun], status: str) -> None:
        assert client_status(runs) == status
