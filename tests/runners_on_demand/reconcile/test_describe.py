"""Tests for runners_on_demand.reconcile.describe: what `rod reconcile` tells an operator."""

from __future__ import annotations

from runners_on_demand.observed import MANAGED_BY, Child
from runners_on_demand.ports import VariableMeta
from runners_on_demand.reconcile.describe import Serving, describe
from runners_on_demand.reconcile.loop import Report
from runners_on_demand.reconcile.model import Destroy, Observation, Plan
from runners_on_demand.reconcile.repos import ServedRepos

NOW = 1_800_000_000.0


def observed(*read: str, children: tuple[Child, ...] = ()) -> Observation:
    return Observation(now=NOW, repos=frozenset(read), jobs=(), children=children, runners=())


def child(repo: str) -> Child:
    meta = {"managed_by": MANAGED_BY, "REPO_FULL_NAME": repo, "RUNNER_NAME": "rod-7-1"}
    return Child("github-runner/dispatch-7", "github-runner", "running", False, meta, NOW, False)


class TestServing:
    def test_each_served_repository_says_why_and_whether_it_was_read(self) -> None:
        repos = ServedRepos(["Octo/App"], clock=lambda: NOW)
        repos.saw("octo/hooked")
        repos.seed({"octo/kept": ("octo/kept", NOW - 7200)})
        repos.forget("octo/moved")
        seen = observed("octo/app", "octo/kept", children=(child("octo/ran"), child("octo/app")))
        serving = Serving(
            repos.served(seen.children),
            allows=lambda name: name != "octo/ran",
            gone=repos.gone,
            state_path="rod/served-repos",
            held={
                "octo/kept": ("octo/kept", NOW - 7200),
                "octo/moved": ("octo/moved", NOW - 60),
                "octo/stale": ("octo/stale", NOW - 2 * 86400),
            },
        )
        assert serving.lines(seen) == [
            "state Variable rod/served-repos: 3 repositories heard of",
            "  octo/moved: heard of 1m ago; not served: GitHub answers 404",
            "  octo/stale: heard of 2d ago; not served: heard of too long ago",
            "served:",
            "  Octo/App: configured, named by a Nomad child",
            "  octo/hooked: heard of 0s ago; not read",
            "  octo/kept: heard of 2h ago (state Variable)",
            "  octo/ran: named by a Nomad child; refused by the allowlist",
        ]

    def test_a_state_variable_off_or_unread_says_so(self) -> None:
        off = Serving({}, allows=lambda name: True)
        assert off.lines(observed()) == [
            'state Variable: none ([reconcile] state_variable = "")',
            "served: none",
        ]
        unread = Serving({}, allows=lambda name: True, state_path="rod/served-repos")
        assert unread.lines(observed())[0] == "state Variable rod/served-repos: could not be read"


class TestDescribe:
    def test_spent_credential_variables_are_actions_too(self) -> None:
        spent = (
            Destroy(VariableMeta("nomad/jobs/github-runner/credentials/rod-7-1", 3, NOW), "x"),
            Destroy(VariableMeta("nomad/jobs/github-runner/credentials/rod-8-1", 3, NOW), "y"),
        )
        result = Plan((), (), 0, (), spent)
        dry = describe(Report(observed(), result), dry_run=True).splitlines()
        assert dry[-3:] == [
            "would do:",
            "  destroy the credential Variable of rod-7-1 (x)",
            "  destroy the credential Variable of rod-8-1 (y)",
        ]
        done = describe(Report(observed(), result, destroyed=("rod-7-1",))).splitlines()
        assert done[-2:] == [
            "  destroy the credential Variable of rod-7-1 (x): destroyed",
            "  destroy the credential Variable of rod-8-1 (y): not done",
        ]
