"""The count: live children plus the pipeline's runners against min + assigned, capped by max."""

from __future__ import annotations

from runners_on_demand.listen.fleet import Fleet, runner_prefix, spent_credentials
from runners_on_demand.listen.protocol import JobEntry, ScaleSetInfo, Statistics
from runners_on_demand.names import parse_runner_name
from runners_on_demand.observed import Child, Runner
from runners_on_demand.ports.protocols import VariableMeta

NOW = 1_000.0


def fleet(assigned: int = 0, *, minimum: int = 0, maximum: int = 10, grace: float = 5.0) -> Fleet:
    made = Fleet(ScaleSetInfo(7, "rod", 1, ("rod",)), minimum, maximum, grace)
    made.statistics = Statistics(assigned=assigned)
    return made


def child(name: str, *, age: float = 60.0, status: str = "running", stop: bool = False) -> Child:
    return Child(
        id=f"github-runner/dispatch-{name}",
        parent_id="github-runner",
        status=status,
        stop=stop,
        meta={"RUNNER_NAME": name, "managed_by": "runners-on-demand"},
        submit_time=NOW - age,
        failed=False,
    )


def entry(kind: str, request_id: int, runner: str = "") -> JobEntry:
    return JobEntry(kind, request_id, "acme", "app", "guid", 77, f"job-{request_id}", (), runner)


class TestNames:
    def test_prefix_never_looks_like_a_webhook_runner(self) -> None:
        made = fleet()
        name = made.new_name(lambda: "1234")
        assert name == "rod-ss7-1234" == runner_prefix(7) + "1234"
        assert made.mine(name) and not made.mine("rod-ss70-1") and not made.mine("rod-8-1")
        assert parse_runner_name(name) is None


class TestApply:
    def test_each_kind(self) -> None:
        made = fleet()
        made.apply(entry("JobAvailable", 1))
        assert list(made.unacquired) == [1]
        made.apply(entry("JobAssigned", 1))
        assert (list(made.unacquired), list(made.waiting)) == ([], [1])
        made.apply(entry("JobStarted", 1, "rod-ss7-a"))
        assert (list(made.waiting), made.busy) == ([], {"rod-ss7-a"})
        made.apply(entry("JobCompleted", 1, "rod-ss7-a"))
        assert (made.busy, made.done) == (set(), {"rod-ss7-a"})

    def test_twice_is_once(self) -> None:
        made = fleet()
        for _ in range(2):
            made.apply(entry("JobAssigned", 1))
            made.apply(entry("JobStarted", 2, "rod-ss7-b"))
        assert (list(made.waiting), made.busy) == ([1], {"rod-ss7-b"})

    def test_a_reassignment_names_no_runner(self) -> None:
        made = fleet()
        made.apply(entry("JobAssigned", 1))
        made.apply(entry("JobCompleted", 1))  # result canceled, runnerName ""
        made.apply(entry("JobAvailable", 1))
        assert (made.busy, made.done, list(made.unacquired)) == (set(), set(), [1])

    def test_other_runners_are_not_followed(self) -> None:
        made = fleet()
        made.apply(entry("JobStarted", 1, "someone-else"))
        assert made.busy == set()


class TestPlan:
    def test_the_first_runners_answer_the_waiting_assignments_in_order(self) -> None:
        made = fleet(assigned=3)
        made.apply(entry("JobAssigned", 11))
        made.apply(entry("JobAssigned", 12))
        plan = made.plan([], set(), NOW)
        assert (plan.desired, plan.current) == (3, 0)
        assert [e.request_id if e else None for e in plan.create] == [11, 12, None]
        assert made.waiting == {}

    def test_live_children_and_the_pipelines_runners_count(self) -> None:
        made = fleet(assigned=3)
        children = [
            child("rod-ss7-a"),
            child("rod-ss7-b", status="dead"),
            child("rod-ss7-c", stop=True),
            child("rod-ss8-x"),  # another scale set's
            child("rod-8000000001-1"),  # a webhook runner
        ]
        plan = made.plan(children, {"rod-ss7-d", "rod-ss7-a"}, NOW)
        assert (plan.current, len(plan.create), plan.retire) == (2, 1, ())

    def test_a_runner_whose_job_completed_no_longer_counts(self) -> None:
        made = fleet(assigned=1)
        made.apply(entry("JobCompleted", 1, "rod-ss7-a"))
        plan = made.plan([child("rod-ss7-a")], set(), NOW)  # still exiting
        assert (plan.current, len(plan.create)) == (0, 1)

    def test_a_runner_gone_before_its_job_completed_arrived_still_counts_for_the_grace(
        self,
    ) -> None:
        made = fleet(assigned=1, grace=5.0)
        assert made.plan([child("rod-ss7-a")], set(), NOW).create == ()
        # Its child exited; the statistics still count its job (no JobCompleted yet).
        assert made.plan([], set(), NOW + 1).create == ()
        # The message comes: its job is done and nothing is made for it.
        made.apply(entry("JobCompleted", 1, "rod-ss7-a"))
        made.statistics = Statistics(assigned=0)
        assert made.plan([], set(), NOW + 2).current == 0
        # A runner that died without a job is replaced once the grace has passed.
        again = fleet(assigned=1, grace=5.0)
        again.plan([child("rod-ss7-b")], set(), NOW)
        assert again.plan([], set(), NOW + 1).create == ()
        assert len(again.plan([], set(), NOW + 7).create) == 1

    def test_a_runner_made_and_gone_before_the_next_plan_still_counts_for_the_grace(
        self,
    ) -> None:
        made = fleet(assigned=1, grace=5.0)
        assert len(made.plan([], set(), NOW).create) == 1
        made.made("rod-ss7-a")
        # Dispatched, ran its job and exited before the next plan: neither live nor in flight,
        # and the statistics still count its job (no JobCompleted yet).
        assert made.plan([child("rod-ss7-a", status="dead")], set(), NOW + 1).create == ()
        made.apply(entry("JobCompleted", 1, "rod-ss7-a"))
        made.statistics = Statistics(assigned=0)
        assert made.plan([], set(), NOW + 2).current == 0

    def test_min_runners_and_the_cap(self) -> None:
        assert len(fleet(0, minimum=2).plan([], set(), NOW).create) == 2
        assert len(fleet(50, maximum=4).plan([], set(), NOW).create) == 4

    def test_at_the_count_nothing_happens(self) -> None:
        plan = fleet(assigned=1).plan([child("rod-ss7-a")], set(), NOW)
        assert (plan.create, plan.retire) == ((), ())

    def test_surplus_is_retired_newest_first_never_busy_held_or_young(self) -> None:
        made = fleet(assigned=0)
        made.apply(entry("JobStarted", 1, "rod-ss7-busy"))
        children = [
            child("rod-ss7-old", age=300),
            child("rod-ss7-new", age=30),
            child("rod-ss7-busy", age=200),
            child("rod-ss7-young", age=1),
            child("rod-ss7-held", age=100),
        ]
        plan = made.plan(children, {"rod-ss7-held"}, NOW)
        assert (plan.desired, plan.current) == (0, 5)
        assert [c.meta["RUNNER_NAME"] for c in plan.retire] == ["rod-ss7-new", "rod-ss7-old"]

    def test_only_the_surplus_is_retired(self) -> None:
        plan = fleet(assigned=1).plan([child("rod-ss7-a", age=90), child("rod-ss7-b")], set(), NOW)
        assert [c.meta["RUNNER_NAME"] for c in plan.retire] == ["rod-ss7-b"]

    def test_what_nobody_holds_is_forgotten(self) -> None:
        made = fleet()
        made.busy |= {"rod-ss7-a", "rod-ss7-gone"}
        made.done |= {"rod-ss7-b", "rod-ss7-gone2"}
        made.ids |= {"rod-ss7-a": 1, "rod-ss7-c": 3, "rod-ss7-gone": 9}
        made.plan([child("rod-ss7-a"), child("rod-ss7-b")], {"rod-ss7-c"}, NOW)
        assert (made.busy, made.done) == ({"rod-ss7-a"}, {"rod-ss7-b"})
        assert made.ids == {"rod-ss7-a": 1, "rod-ss7-c": 3}


class TestSpentCredentials:
    BOOT = 300.0

    def stored(self, name: str, *, age: float = 10.0) -> VariableMeta:
        path = f"nomad/jobs/github-runner/credentials/{name}"
        return VariableMeta(path, 1, NOW - age)

    def runner(self, name: str, status: str = "offline", *, busy: bool = False) -> Runner:
        return Runner("acme/app", 1, name, status, busy)

    def test_used_or_unread_credentials_go_and_nothing_else(self) -> None:
        mine = fleet()
        p = runner_prefix(7)
        stored = [
            self.stored(f"{p}online"),  # its runner is online: used
            self.stored(f"{p}busy"),  # busy: used
            self.stored(f"{p}booting"),  # a live child still starting: kept
            self.stored(f"{p}gone", age=400),  # no live child, older than the boot timeout
            self.stored(f"{p}young"),  # no child yet, younger: it may still come
            self.stored(f"{p}held", age=400),  # the pipeline holds it: kept
            self.stored("rod-ss3-earlier", age=400),  # a scale set made again: unread
            self.stored("rod-ss8-running", age=400),  # another scale set's, its child lives
            self.stored("rod-42-1", age=400),  # rod serve's: the reconciler's to judge
        ]
        runners = [
            self.runner(f"{p}online", "online"),
            self.runner(f"{p}busy", busy=True),
            self.runner(f"{p}booting"),
        ]
        live = {f"{p}booting", "rod-ss8-running"}
        spent = spent_credentials(mine, stored, runners, live, {f"{p}held"}, NOW, self.BOOT)
        names = [v.path.rpartition("/")[2] for v in spent]
        assert names == [f"{p}online", f"{p}busy", f"{p}gone", "rod-ss3-earlier"]
