"""Tests for runners_on_demand.decision: which jobs get a runner, from which pool."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runners_on_demand import decision
from runners_on_demand.decision import (
    DEFAULT_POOL,
    Ignore,
    IgnoreReason,
    Policy,
    Pool,
    StartRunner,
    decide,
    runner_scope,
)
from runners_on_demand.events import Intake, Origin, WorkflowJobEvent
from runners_on_demand.names import runner_name
from runners_on_demand.scope import RunnerGroup, RunnerScope

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "workflow_job"


def event_from(name: str) -> WorkflowJobEvent:
    """The event a vendored example becomes (fields as parse_delivery extracts them)."""
    document = json.loads((SAMPLES / name).read_text())
    job, repo = document["workflow_job"], document["repository"]
    owner, _, short = repo["full_name"].partition("/")
    return WorkflowJobEvent(
        origin=Origin(Intake.WEBHOOK, "1" + "/" + "d-1"),
        action=document["action"],
        job_id=job["id"],
        run_id=job["run_id"],
        run_attempt=job["run_attempt"],
        job_name=job["name"],
        workflow_name=job.get("workflow_name"),
        labels=tuple(job["labels"]),
        status=job["status"],
        conclusion=job["conclusion"],
        runner_id=job["runner_id"] or None,
        runner_name=job["runner_name"] or None,
        repo_full_name=repo["full_name"],
        repo_owner=owner,
        repo_name=short,
        repo_html_url=repo["html_url"],
        fork=repo["fork"],
        installation_id=document.get("installation", {}).get("id"),
    )


# The real `queued` example of a job awaiting an environment's approval (status `waiting`).
AWAITING = event_from(
    "06.queued.json"
)  # labels [self-hosted, k8s], lineville/elastic-machines-testing
# The same job once approved: GitHub sends `queued` again, now with status `queued`.
QUEUED = dataclasses.replace(AWAITING, status="queued")


def job(labels: tuple[str, ...] = ("self-hosted",), **changes: object) -> WorkflowJobEvent:
    """The real queued example with other labels or fields."""
    return dataclasses.replace(QUEUED, labels=labels, **changes)  # type: ignore[arg-type]


class TestPool:
    def test_labels_are_lower_cased(self) -> None:
        assert Pool("gpu", "runner-gpu", frozenset({"GPU", "Linux"})).labels == {"gpu", "linux"}

    def test_default_pool_takes_any_job(self) -> None:
        assert Pool("default", "github-runner", frozenset()) == DEFAULT_POOL
        assert DEFAULT_POOL.accepts(frozenset({"self-hosted", "anything", "x64"}), "self-hosted")

    def test_pool_must_cover_every_job_label_but_the_trigger(self) -> None:
        pool = Pool("gpu", "runner-gpu", frozenset({"linux", "gpu"}))
        assert pool.accepts(frozenset({"self-hosted", "gpu"}), "self-hosted")
        assert pool.accepts(frozenset({"self-hosted", "linux", "gpu"}), "Self-Hosted")
        assert not pool.accepts(frozenset({"self-hosted", "gpu", "arm64"}), "self-hosted")


class TestPolicy:
    def test_defaults(self) -> None:
        policy = Policy()
        assert (policy.trigger_label, policy.pools, policy.allow) == (
            "self-hosted",
            (DEFAULT_POOL,),
            (),
        )

    def test_empty_allowlist_allows_all(self) -> None:
        assert Policy().allows("anyone/anything")

    @pytest.mark.parametrize(
        ("full_name", "allowed"),
        [
            ("Lineville/other", True),
            ("octo-org/example-workflow", True),
            ("octo-org/EXAMPLE-workflow", True),
            ("octo-org/else", False),
            ("stranger/x", False),
        ],
    )
    def test_allowlist(self, full_name: str, allowed: bool) -> None:
        policy = Policy(allow=("lineville", "octo-org/example-workflow"))
        assert policy.allows(full_name) is allowed


class TestDecide:
    def test_real_queued_self_hosted_example_dispatches_on_the_default_pool(self) -> None:
        decision = decide(QUEUED, Policy())
        assert decision == StartRunner(
            pool=DEFAULT_POOL,
            runner_name=f"rod-{QUEUED.job_id}-1",
            labels=("self-hosted", "k8s"),
        )

    def test_a_job_awaiting_approval_waits_for_its_second_queued(self) -> None:
        # GitHub sends `queued` twice for a job of an environment with protection rules: first
        # while it waits for approval (status `waiting`, the real example), then once approved.
        # A runner made on the first idles until the reconciler retires it as surplus, and the
        # second, under the same name, is then only a duplicate: no runner when it is needed.
        assert decide(AWAITING, Policy()) == Ignore("status:waiting")
        assert isinstance(decide(QUEUED, Policy()), StartRunner)

    def test_real_queued_github_hosted_example_is_ignored(self) -> None:
        assert decide(event_from("05.queued.json"), Policy()) == Ignore("label:no-trigger")

    @pytest.mark.parametrize(
        "name",
        [
            "01.completed.failure.json",
            "02.completed.success.json",
            "03.in_progress.json",
            "04.in_progress.json",
            "07.waiting.json",
        ],
    )
    def test_real_examples_of_other_actions_never_dispatch(self, name: str) -> None:
        event = dataclasses.replace(event_from(name), labels=("self-hosted",))
        assert decide(event, Policy()) == Ignore(f"action:{event.action}")

    @pytest.mark.parametrize("action", ["waiting", "in_progress", "completed"])
    def test_lifecycle_actions_never_dispatch(self, action: str) -> None:
        assert decide(job(action=action), Policy()) == Ignore(f"action:{action}")

    def test_unknown_action_is_bucketed(self) -> None:
        assert decide(job(action="requested"), Policy()) == Ignore("action:other")

    @pytest.mark.parametrize("labels", [("Self-Hosted",), ("SELF-HOSTED", "Linux")])
    def test_trigger_label_is_case_insensitive(self, labels: tuple[str, ...]) -> None:
        decision = decide(job(labels), Policy())
        assert isinstance(decision, StartRunner)
        assert decision.labels == labels  # passed on as the job wrote them

    def test_custom_trigger_label(self) -> None:
        policy = Policy(trigger_label="Nomad")
        assert isinstance(decide(job(("nomad", "linux")), policy), StartRunner)
        assert decide(job(("self-hosted",)), policy) == Ignore("label:no-trigger")

    @pytest.mark.parametrize("labels", [(), ("ubuntu-latest",), ("self-hosted-ish",)])
    def test_without_trigger_label(self, labels: tuple[str, ...]) -> None:
        assert decide(job(labels), Policy()) == Ignore("label:no-trigger")

    @pytest.mark.parametrize(
        "labels",
        [
            ("self-hosted", "a,b"),
            ("self-hosted", ""),
            ("self-hosted",) * 101,
            # Issue 10 item 6: beyond GitHub's 255 characters (a 900 kB one was dispatched),
            # or with a NUL or a newline, which would reach Nomad meta, config.sh and the logs.
            ("self-hosted", "x" * 256),
            ("self-hosted", "x" * 900_000),
            ("self-hosted", "gpu\x00"),
            ("self-hosted", "gpu\nstatus=202"),
            ("self-hosted", "del\x7f"),
        ],
    )
    def test_labels_that_cannot_travel(self, labels: tuple[str, ...]) -> None:
        assert decide(job(labels), Policy()) == Ignore("label:invalid")

    def test_the_longest_label_github_takes_is_fine(self) -> None:
        labels = ("self-hosted", "é" * 255, "gpu builders")
        assert isinstance(decide(job(labels), Policy()), StartRunner)

    def test_allowlist_refuses_other_repositories(self) -> None:
        policy = Policy(allow=("octo-org",))
        assert decide(QUEUED, policy) == Ignore("repo:not-allowed")
        assert isinstance(decide(QUEUED, Policy(allow=("octo-org", "LINEVILLE"))), StartRunner)
        full = Policy(allow=("lineville/elastic-machines-testing",))
        assert isinstance(decide(QUEUED, full), StartRunner)

    def test_first_pool_covering_all_labels_wins(self) -> None:
        linux = Pool("linux", "runner-linux", frozenset({"linux", "x64"}))
        gpu = Pool("gpu", "runner-gpu", frozenset({"linux", "x64", "gpu"}))
        policy = Policy(pools=(linux, gpu))
        assert _pool(decide(job(("self-hosted", "Linux")), policy)) == linux
        assert _pool(decide(job(("self-hosted", "linux", "GPU")), policy)) == gpu
        assert decide(job(("self-hosted", "arm64")), policy) == Ignore("pool:none-matches")
        reversed_policy = Policy(pools=(gpu, linux))
        assert _pool(decide(job(("self-hosted", "linux")), reversed_policy)) == gpu

    def test_catch_all_pool(self) -> None:
        gpu = Pool("gpu", "runner-gpu", frozenset({"gpu"}))
        anything = Pool("any", "github-runner", frozenset())
        policy = Policy(pools=(gpu, anything))
        assert _pool(decide(job(("self-hosted", "k8s")), policy)) == anything

    def test_runner_name_is_per_job_and_attempt(self) -> None:
        assert runner_name(2832853555, 3) == "rod-2832853555-3"
        first = decide(job(run_attempt=1), Policy())
        second = decide(job(run_attempt=2), Policy())
        assert isinstance(first, StartRunner) and isinstance(second, StartRunner)
        assert first.runner_name != second.runner_name
        assert second.runner_name == f"rod-{QUEUED.job_id}-2"

    @given(
        action=st.sampled_from(["queued", "waiting", "in_progress", "completed", "x"]),
        labels=st.lists(st.sampled_from(["self-hosted", "Self-Hosted", "gpu", "linux", "a,b"])),
    )
    def test_every_outcome_is_a_known_reason_or_a_justified_dispatch(
        self, action: str, labels: list[str]
    ) -> None:
        pools = (Pool("gpu", "runner-gpu", frozenset({"gpu"})),)
        decision = decide(job(tuple(labels), action=action), Policy(pools=pools))
        if isinstance(decision, Ignore):
            assert isinstance(decision.reason, IgnoreReason)
        else:
            assert action == "queued"
            assert "self-hosted" in {label.lower() for label in labels}
            assert {label.lower() for label in labels} <= {"self-hosted", "gpu"}


ORG = "lineville"
SELECTED = RunnerGroup(ORG, 2, "linux", "selected", selected=frozenset({"lineville/other"}))
EVERY = RunnerGroup(ORG, 1, "Default")


def org_pool(group: RunnerGroup | None, name: str = "org", labels: tuple[str, ...] = ()) -> Pool:
    """A pool making org runners in `group` (None: not resolved yet)."""
    return Pool(name, f"runner-{name}", frozenset(labels), runner_group="linux", group=group)


class TestDecideWithRunnerGroups:
    def test_a_repository_the_group_serves_gets_an_org_runner(self) -> None:
        decision = decide(job(repo_private=True), Policy(pools=(org_pool(EVERY),)))
        assert _pool(decision).group == EVERY

    def test_a_repository_the_group_does_not_serve_gets_none_and_says_why(self) -> None:
        decision = decide(job(repo_private=True), Policy(pools=(org_pool(SELECTED),)))
        assert decision == Ignore(IgnoreReason.RUNNER_GROUP_REFUSES)
        assert IgnoreReason.RUNNER_GROUP_REFUSES == "runner-group:repo-not-allowed"

    def test_a_public_repository_needs_a_group_that_allows_public_ones(self) -> None:
        decision = decide(job(repo_private=False), Policy(pools=(org_pool(EVERY),)))
        assert decision == Ignore(IgnoreReason.RUNNER_GROUP_REFUSES)

    def test_a_refusing_group_lets_the_next_pool_try(self) -> None:
        pools = (org_pool(SELECTED), Pool("repo", "github-runner"))
        assert _pool(decide(job(repo_private=True), Policy(pools=pools))).name == "repo"

    def test_no_pool_for_the_labels_is_not_a_refusal(self) -> None:
        pools = (org_pool(SELECTED, labels=("gpu",)),)
        assert decide(job(("self-hosted", "arm")), Policy(pools=pools)) == Ignore(
            IgnoreReason.NO_POOL
        )

    def test_an_unresolved_group_serves_nobody(self) -> None:
        decision = decide(job(repo_private=True), Policy(pools=(org_pool(None),)))
        assert decision == Ignore(IgnoreReason.RUNNER_GROUP_REFUSES)


SHARED = Policy(pools=(Pool("gpu", "runner-gpu", frozenset({"gpu"})), org_pool(SELECTED)))


class TestPlace:
    def test_a_repeated_question_is_answered_from_memory(self) -> None:
        policy = Policy()
        first = policy.place(("linux",), "octo/app", None)
        assert first == Ignore(IgnoreReason.NO_TRIGGER_LABEL)
        assert policy.place(("linux",), "octo/app", None) is first

    @given(
        labels=st.lists(st.sampled_from(["self-hosted", "Self-Hosted", "gpu", "linux", "a,b"])),
        repo=st.sampled_from(["lineville/other", "lineville/app", "octo/app"]),
        private=st.sampled_from([True, False, None]),
    )
    def test_remembered_answers_are_the_answers(
        self, labels: list[str], repo: str, private: bool | None
    ) -> None:
        event = job(tuple(labels), repo_full_name=repo, repo_private=private)
        assert decide(event, SHARED) == decide(event, dataclasses.replace(SHARED))

    def test_a_new_policy_answers_anew(self) -> None:
        # org_groups.py resolves the runner groups at start into a new policy.
        unresolved = Policy(pools=(org_pool(None),))
        event = job(repo_private=True)
        assert decide(event, unresolved) == Ignore(IgnoreReason.RUNNER_GROUP_REFUSES)
        resolved = dataclasses.replace(unresolved, pools=(org_pool(EVERY),))
        assert _pool(decide(event, resolved)).group == EVERY

    def test_memory_is_bounded(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(decision, "MAX_PLACED", 2)
        policy = Policy()
        for n in range(5):
            assert isinstance(decide(job(repo_full_name=f"octo/app{n}"), policy), StartRunner)
        assert len(policy._placed) <= 2


class TestRunnerScope:
    def test_an_org_pool_registers_at_the_organization(self) -> None:
        assert runner_scope(org_pool(EVERY), "lineville/app") == RunnerScope(ORG)

    def test_other_pools_at_the_repository(self) -> None:
        assert runner_scope(DEFAULT_POOL, "octo/app") == RunnerScope("octo", "app")


def _pool(decision: StartRunner | Ignore) -> Pool:
    """The pool of a StartRunner (fails the test on an Ignore)."""
    assert isinstance(decision, StartRunner), decision
    return decision.pool
