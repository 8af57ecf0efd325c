"""simulator.nomad.models: the backend's operations, without HTTP."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from simulator.nomad.drivers import InProcessDriver, TaskContext, completes_after
from simulator.nomad.errors import BadRequest, NotFound, ServerError
from simulator.nomad.models import NomadBackend

from .conftest import batch_job, parameterized_job, wait_until

GO = threading.Event  # the `release` fixture's type


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Tasks run until this event is set (or they are stopped)."""
    event = threading.Event()
    yield event
    event.set()


@pytest.fixture
def backend(release: threading.Event) -> Iterator[NomadBackend]:
    def task(ctx: TaskContext) -> int:
        while not release.wait(0.01):
            if ctx.stop_requested.is_set():
                return 0
        return 1 if ctx.env.get("NOMAD_META_maybe") == "fail" else 0

    b = NomadBackend(driver=InProcessDriver(default=task), cpu=1000, memory=1000)
    yield b
    b.shutdown()


def dispatch(b: NomadBackend, token: str = "", **meta: str) -> str:
    reply = b.dispatch_job("sim", "default", meta={"need": "1", **meta}, idempotency_token=token)
    return str(reply["DispatchedJobID"])


def status(b: NomadBackend, job_id: str) -> str:
    return str(b.get_job(job_id, "default")["Status"])


def client_statuses(b: NomadBackend, job_id: str) -> list[str]:
    return [a["ClientStatus"] for a in b.job_allocations(job_id, "default")]


class TestRegisterJob:
    def test_parent_gets_no_eval_and_runs(self, backend: NomadBackend) -> None:
        reply = backend.register_job(parameterized_job(), "default")
        assert reply["EvalID"] == "" and reply["EvalCreateIndex"] == 0
        assert status(backend, "sim") == "running"
        assert backend.job_allocations("sim", "default") == []

    def test_batch_job_is_placed(self, backend: NomadBackend, release: GO) -> None:
        reply = backend.register_job(batch_job(), "default")
        assert reply["EvalID"] and reply["EvalCreateIndex"] == reply["Index"]
        assert status(backend, "web") == "running"
        release.set()
        wait_until(lambda: status(backend, "web") == "dead", "batch job to finish")

    def test_validation_is_a_500_multierror(self, backend: NomadBackend) -> None:
        with pytest.raises(ServerError) as err:
            backend.register_job(parameterized_job(Type="service"), "default")
        assert err.value.message == (
            "1 error occurred:\n\t* Parameterized job can only be used with "
            '"batch" or "sysbatch" scheduler\n\n'
        )

    def test_nonexistent_namespace(self, backend: NomadBackend) -> None:
        with pytest.raises(ServerError, match='job "web" is in nonexistent namespace "other"'):
            backend.register_job(batch_job(), "other")


class TestDispatchJob:
    @pytest.fixture(autouse=True)
    def parent(self, backend: NomadBackend) -> None:
        backend.register_job(parameterized_job(payload="required"), "default")

    def test_child_shape(self, backend: NomadBackend) -> None:
        reply = backend.dispatch_job(
            "sim", "default", payload=b"hi", meta={"need": "x"}, id_prefix_template="P"
        )
        child_id = reply["DispatchedJobID"]
        assert reply["Index"] == reply["JobCreateIndex"] == reply["EvalCreateIndex"]
        parent_part, _, rest = child_id.partition("/dispatch-P-")
        unix, _, hex8 = rest.partition("-")
        assert parent_part == "sim" and unix.isdigit() and len(hex8) == 8
        child = backend.get_job(child_id, "default")
        assert child["Name"] == child_id and child["ParentID"] == "sim"
        assert child["Dispatched"] is True
        assert child["ParameterizedJob"] is not None
        assert child["Payload"] == "aGk="
        assert child["Meta"] == {"team": "ci", "need": "x"}

    @pytest.mark.parametrize(
        ("job_id", "payload", "meta", "message"),
        [
            ("nope", b"p", {"need": "1"}, "parameterized job not found"),
            (
                "sim",
                None,
                {"need": "1"},
                "Payload is not provided but required by parameterized job",
            ),
            ("sim", b"x" * 16385, {"need": "1"}, "Payload exceeds maximum size; 16385 > 16384"),
            ("sim", b"p", {"need": "1", "x": "1", "y": "2"}, "unpermitted metadata keys: [x y]"),
            ("sim", b"p", {"maybe": "1"}, "Dispatch did not provide required meta keys: [need]"),
        ],
    )
    def test_validation(
        self,
        backend: NomadBackend,
        job_id: str,
        payload: bytes | None,
        meta: dict[str, str],
        message: str,
    ) -> None:
        with pytest.raises(ServerError) as err:
            backend.dispatch_job(job_id, "default", payload=payload, meta=meta)
        assert err.value.status == 500 and err.value.message.endswith(message)

    def test_payload_limit_is_inclusive(self, backend: NomadBackend) -> None:
        assert backend.dispatch_job("sim", "default", payload=b"x" * 16384, meta={"need": "1"})

    def test_not_parameterized_and_stopped(self, backend: NomadBackend) -> None:
        child = backend.dispatch_job("sim", "default", payload=b"p", meta={"need": "1"})
        child_id = child["DispatchedJobID"]
        with pytest.raises(
            ServerError, match=f'Specified job "{child_id}" is not a parameterized job'
        ):
            backend.dispatch_job(child_id, "default", payload=b"p", meta={"need": "1"})
        backend.deregister_job("sim", "default")
        with pytest.raises(ServerError, match='Specified job "sim" is stopped'):
            backend.dispatch_job("sim", "default", payload=b"p", meta={"need": "1"})

    def test_priority_range(self, backend: NomadBackend) -> None:
        with pytest.raises(ServerError, match=r"must be between \[1, 100\]"):
            backend.dispatch_job("sim", "default", payload=b"p", meta={"need": "1"}, priority=101)


class TestIdempotency:
    @pytest.fixture(autouse=True)
    def parent(self, backend: NomadBackend) -> None:
        backend.register_job(parameterized_job(), "default")

    def test_same_token_returns_existing_child(self, backend: NomadBackend) -> None:
        first = backend.dispatch_job("sim", "default", meta={"need": "1"}, idempotency_token="t")
        again = backend.dispatch_job("sim", "default", meta={"need": "1"}, idempotency_token="t")
        child = backend.get_job(first["DispatchedJobID"], "default")
        assert again == {
            "DispatchedJobID": first["DispatchedJobID"],
            "EvalID": "",
            "EvalCreateIndex": 0,
            "JobCreateIndex": child["CreateIndex"],
            "Index": child["ModifyIndex"],
        }
        assert len(backend.list_jobs("default", prefix="sim/")[0]) == 1

    def test_validation_runs_before_the_token_check(self, backend: NomadBackend) -> None:
        dispatch(backend, "t")
        with pytest.raises(ServerError, match="required meta keys"):
            backend.dispatch_job("sim", "default", meta={}, idempotency_token="t")

    def test_dead_and_stopped_children_still_match_until_gc(
        self, backend: NomadBackend, release: GO
    ) -> None:
        dead = dispatch(backend, "dead")
        stopped = dispatch(backend, "stopped")
        backend.deregister_job(stopped, "default")
        release.set()
        wait_until(lambda: status(backend, dead) == "dead", "child to finish")
        assert dispatch(backend, "dead") == dead
        assert dispatch(backend, "stopped") == stopped
        backend.garbage_collect()
        with pytest.raises(NotFound):
            backend.get_job(dead, "default")
        assert dispatch(backend, "dead") != dead

    def test_purge_frees_the_token(self, backend: NomadBackend) -> None:
        child = dispatch(backend, "p")
        backend.deregister_job(child, "default", purge=True)
        assert dispatch(backend, "p") != child


class TestLifecycle:
    @pytest.fixture(autouse=True)
    def parent(self, backend: NomadBackend) -> None:
        job = parameterized_job()
        job["TaskGroups"][0]["RestartPolicy"] = {"Attempts": 0, "Mode": "fail"}
        backend.register_job(job, "default")

    def test_exit_codes_and_children_counts(self, backend: NomadBackend, release: GO) -> None:
        ok, bad = dispatch(backend), dispatch(backend, maybe="fail")
        assert backend.job_summary("sim", "default")["Children"] == {
            "Pending": 0,
            "Running": 2,
            "Dead": 0,
        }
        release.set()
        wait_until(lambda: status(backend, ok) == status(backend, bad) == "dead", "children dead")
        assert [a["ClientStatus"] for a in backend.job_allocations(ok, "default")] == ["complete"]
        assert [a["ClientStatus"] for a in backend.job_allocations(bad, "default")] == ["failed"]
        assert backend.job_summary(bad, "default")["Summary"]["g"]["Failed"] == 1
        backend.garbage_collect()
        # Deleted dead children stay counted: Dead never decrements.
        assert backend.job_summary("sim", "default")["Children"] == {
            "Pending": 0,
            "Running": 0,
            "Dead": 2,
        }

    def test_stop_kills_the_task_and_keeps_the_job(self, backend: NomadBackend) -> None:
        child = dispatch(backend)
        reply = backend.deregister_job(child, "default")
        assert reply["EvalID"] and reply["JobModifyIndex"] == reply["Index"]
        job = backend.get_job(child, "default")
        assert (job["Stop"], job["Status"]) == (True, "dead")  # its allocation is desired-stop
        wait_until(lambda: client_statuses(backend, child) == ["complete"], "the task to exit")
        (alloc,) = backend.job_allocations(child, "default")
        assert alloc["DesiredStatus"] == "stop"
        assert [e["Type"] for e in alloc["TaskStates"]["t"]["Events"]][-3:] == [
            "Killing",
            "Terminated",
            "Killed",
        ]

    def test_a_stopped_child_is_dead_while_its_task_still_shuts_down(self) -> None:
        # Nomad: Allocation.TerminalStatus = ServerTerminalStatus (desired stop/evict) ||
        # ClientTerminalStatus (nomad/structs/alloc.go), and getJobStatus (state_store.go) is dead
        # once no allocation is non-terminal. Counts, room (structs.AllocsFit skips only
        # ClientTerminalStatus) and GC go by the client's status: the task has not exited yet.
        drained = threading.Event()

        def slow_to_stop(ctx: TaskContext) -> int:
            ctx.stop_requested.wait(10)
            drained.wait(10)  # still shutting down after the kill signal
            return 0

        b = NomadBackend(driver=InProcessDriver(default=slow_to_stop), cpu=1000, memory=1000)
        try:
            job = parameterized_job()
            job["TaskGroups"][0]["Tasks"][0]["Resources"] = {"CPU": 600, "MemoryMB": 100}
            b.register_job(job, "default")
            child = dispatch(b)
            assert status(b, child) == "running"
            b.deregister_job(child, "default")
            assert status(b, child) == "dead"
            (alloc,) = b.job_allocations(child, "default")
            assert (alloc["DesiredStatus"], alloc["ClientStatus"]) == ("stop", "running")
            assert b.job_summary(child, "default")["Summary"]["g"]["Running"] == 1
            assert b.job_summary("sim", "default")["Children"]["Dead"] == 1
            second = dispatch(b)
            assert status(b, second) == "pending"  # the stopping task still holds its CPU
            b.garbage_collect()
            assert b.get_job(child, "default")["Status"] == "dead"  # kept: its task still runs
            drained.set()
            wait_until(lambda: status(b, second) == "running", "the room to be freed")
            assert client_statuses(b, child) == ["complete"]
        finally:
            drained.set()
            b.shutdown()

    def test_parent_stays_running_until_stopped(self, backend: NomadBackend) -> None:
        dispatch(backend)
        assert status(backend, "sim") == "running"
        reply = backend.deregister_job("sim", "default")
        assert reply["EvalID"] == ""
        assert status(backend, "sim") == "dead"
        assert len(backend.list_jobs("default", prefix="sim/")[0]) == 1

    def test_payload_file_may_not_escape_the_alloc_dir(self, backend: NomadBackend) -> None:
        job = parameterized_job("esc")
        job["TaskGroups"][0]["Tasks"][0]["DispatchPayload"] = {"File": "../../../x"}
        backend.register_job(job, "default")
        child = backend.dispatch_job("esc", "default", payload=b"p", meta={"need": "1"})
        (alloc,) = backend.job_allocations(child["DispatchedJobID"], "default")
        assert alloc["ClientStatus"] == "failed"
        event = alloc["TaskStates"]["t"]["Events"][-1]
        assert event["Type"] == "Driver Failure" and "escapes the alloc dir" in event["Message"]

    def test_unknown_deregister_is_zeros(self, backend: NomadBackend) -> None:
        reply = backend.deregister_job("ghost", "default", purge=True)
        assert reply["EvalID"] == "" and reply["Index"] == reply["JobModifyIndex"] == 0

    def test_restart_policy_attempts(self) -> None:
        runs: list[int] = []

        def flaky(ctx: TaskContext) -> int:
            runs.append(1)
            return 1 if len(runs) < 3 else 0

        b = NomadBackend(driver=InProcessDriver(default=flaky))
        try:
            job = batch_job()
            job["TaskGroups"][0]["RestartPolicy"] = {"Attempts": 2, "Delay": 10**6}
            b.register_job(job, "default")
            wait_until(lambda: status(b, "web") == "dead", "job dead")
            (alloc,) = b.job_allocations("web", "default")
            assert alloc["ClientStatus"] == "complete"
            assert alloc["TaskStates"]["t"]["Restarts"] == 2 and len(runs) == 3
        finally:
            b.shutdown()


class TestCapacity:
    def test_placement_waits_for_room(self, backend: NomadBackend, release: GO) -> None:
        job = parameterized_job()
        job["TaskGroups"][0]["Tasks"][0]["Resources"] = {"CPU": 600, "MemoryMB": 100}
        backend.register_job(job, "default")
        first, second = dispatch(backend), dispatch(backend)
        assert status(backend, first) == "running"
        assert status(backend, second) == "pending"
        assert backend.job_allocations(second, "default") == []
        assert backend.job_summary(second, "default")["Summary"]["g"]["Queued"] == 1
        release.set()
        wait_until(lambda: status(backend, second) == "dead", "queued child to run")
        (alloc,) = backend.job_allocations(second, "default")
        assert alloc["ClientStatus"] == "complete"

    def test_allocations_that_fail_at_start_free_their_room(self, backend: NomadBackend) -> None:
        job = parameterized_job("esc")
        task = job["TaskGroups"][0]["Tasks"][0]
        task["DispatchPayload"] = {"File": "../../../x"}
        task["Resources"] = {"CPU": 1000, "MemoryMB": 10}
        backend.register_job(job, "default")
        children = [
            backend.dispatch_job("esc", "default", payload=b"p", meta={"need": "1"})
            for _ in range(3)
        ]
        for child in children:
            (alloc,) = backend.job_allocations(child["DispatchedJobID"], "default")
            assert alloc["ClientStatus"] == "failed"


class TestReadsAndControl:
    def test_list_prefix_is_raw_and_sorted(self, backend: NomadBackend) -> None:
        for job_id in ("sim-other", "sim", "a"):
            backend.register_job(parameterized_job(job_id), "default")
        dispatch(backend)
        ids = [s["ID"] for s in backend.list_jobs("default", prefix="sim")[0]]
        assert ids[:2] == ["sim", "sim-other"] and ids[2].startswith("sim/dispatch-")
        assert backend.list_jobs("other")[0] == []
        assert backend.list_jobs("*", prefix="a")[0][0]["ParameterizedJob"] is True

    def test_all_namespaces_list_in_namespace_then_id_order(self) -> None:
        # the `id` index is (Namespace, ID) (nomad/state/schema.go jobTableSchema); so is the
        # paginator's `<namespace>.<id>` token
        backend = NomadBackend(namespaces=("default", "ci"))
        try:
            for job_id, namespace in (("b", "ci"), ("a", "default"), ("c", "ci")):
                backend.register_job(parameterized_job(job_id), namespace)
            stubs, _ = backend.list_jobs("*")
            assert [(s["Namespace"], s["ID"]) for s in stubs] == [
                ("ci", "b"), ("ci", "c"), ("default", "a"),
            ]  # fmt: skip
            assert backend.list_jobs("*", per_page=1) == (stubs[:1], "ci.c")
            page = backend.list_jobs("*", per_page=1, next_token="ci.c")
            assert page == (stubs[1:2], "default.a")
            assert backend.list_jobs("*", next_token="ci.c") == (stubs[1:], "")
        finally:
            backend.shutdown()

    def test_parse_errors_are_400(self, backend: NomadBackend) -> None:
        with pytest.raises(BadRequest, match="Job spec is empty"):
            backend.parse_job("  ")
        with pytest.raises(BadRequest, match="Failed to parse job: "):
            backend.parse_job('job "x" { nope = 1 }')

    def test_reset_forgets_everything(self, backend: NomadBackend) -> None:
        backend.register_job(parameterized_job(), "default")
        dispatch(backend)
        backend.reset()
        assert backend.state()["jobs"] == [] and backend.state()["index"] == 2
        assert backend.list_jobs("*")[0] == []


def test_completes_after_default_is_fast() -> None:
    b = NomadBackend(driver=InProcessDriver(default=completes_after(0)))
    try:
        b.register_job(batch_job(), "default")
        wait_until(lambda: status(b, "web") == "dead", "job dead")
    finally:
        b.shutdown()


class TestReRegistration:
    def test_unchanged_keeps_version_changed_bumps(self, backend: NomadBackend) -> None:
        first = backend.register_job(parameterized_job(), "default")
        same = backend.register_job(parameterized_job(), "default")
        assert same["JobModifyIndex"] == first["JobModifyIndex"]
        assert backend.get_job("sim", "default")["Version"] == 0
        changed = backend.register_job(parameterized_job(Priority=70), "default")
        assert changed["JobModifyIndex"] == changed["Index"] > first["Index"]
        assert backend.get_job("sim", "default")["Version"] == 1

    def test_reregistering_a_stopped_parent_revives_it(self, backend: NomadBackend) -> None:
        backend.register_job(parameterized_job(), "default")
        backend.deregister_job("sim", "default")
        backend.register_job(parameterized_job(), "default")
        job = backend.get_job("sim", "default")
        assert (job["Stop"], job["Status"]) == (False, "running")
        assert dispatch(backend)
