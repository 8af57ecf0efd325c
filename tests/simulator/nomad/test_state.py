"""simulator.nomad.state: lifecycle tables and Nomad's job status rules."""

from __future__ import annotations

import pytest

from simulator.lifecycle import IllegalTransition
from simulator.nomad.jobspec import canonicalize
from simulator.nomad.state import ALLOCATION, TASK, JobRecord, job_status

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
