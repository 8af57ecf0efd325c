"""runners_on_demand.nomad_acl: rod's needs, and what policies' RulesJSON grant (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from runners_on_demand.nomad_acl import Need, grants, missing, needs

DISPATCH = Need("default", ("dispatch-job",), why="to start a runner")
CREDENTIALS = {"nomad/jobs/github-runner/credentials/*": ["write", "destroy", "list"]}


def rules(*namespaces: dict[str, Any]) -> dict[str, Any]:
    """A policy's RulesJSON, as GET /v1/acl/policy/:name returns it."""
    return {"Namespaces": list(namespaces)}


def ns(name: str, *caps: str, policy: str = "", paths: dict[str, list[str]] | None = None) -> Any:
    variables = None
    if paths:
        variables = {"Paths": [{"PathSpec": k, "Capabilities": v} for k, v in paths.items()]}
    return {"Name": name, "Policy": policy, "Capabilities": list(caps), "Variables": variables}


class TestNeeds:
    def test_what_rod_calls_by_default(self) -> None:
        wanted = [need for need in needs("default", ["github-runner"]) if not need.path]
        assert [need.any_of for need in wanted] == [
            ("dispatch-job",),
            ("list-jobs",),
            ("deregister-job", "submit-job", "purge-job"),
        ]
        assert all(need.namespace == "default" for need in wanted)

    def test_credential_variables_per_pool_job(self) -> None:
        wanted = needs("ci", ["github-runner", "gpu", "gpu"])
        variables = [(need.op, need.path) for need in wanted if need.path]
        assert variables == [
            (op, f"nomad/jobs/{job}/credentials/rod-1-1")
            for job in ("github-runner", "gpu")
            for op in ("write", "destroy", "list")
        ]

    def test_the_state_variable_is_read_and_written(self) -> None:
        wanted = needs("ci", ["j"], "rod/served-repos")
        assert [(n.op, n.path) for n in wanted if n.path == "rod/served-repos"] == [
            ("read", "rod/served-repos"),
            ("write", "rod/served-repos"),
        ]
        assert wanted[-1].describe() == (
            'variables "write" on rod/served-repos in namespace "ci" '
            "(to write the repositories heard of)"
        )
        granted = grants([rules(ns("ci", paths={"rod/*": ["read", "write"]}))])
        assert missing(granted, wanted[-2:]) == []
        credentials_only = grants([rules(ns("ci", paths={"nomad/jobs/j/credentials/*": ["read"]}))])
        assert missing(credentials_only, wanted[-2:]) == wanted[-2:]

    def test_describe_names_the_capability_and_why(self) -> None:
        assert DISPATCH.describe() == '"dispatch-job" in namespace "default" (to start a runner)'
        (write, *_) = [n for n in needs("default", ["j"]) if n.path]
        assert write.describe() == (
            'variables "write" on nomad/jobs/j/credentials/* in namespace "default" '
            "(to write runner credentials of j)"
        )


class TestGrants:
    def test_the_shipped_policy_grants_every_need(self) -> None:
        policy = rules(
            ns(
                "default",
                "dispatch-job",
                "list-jobs",
                "deregister-job",
                paths=CREDENTIALS,
            )
        )
        wanted = needs("default", ["github-runner"])
        assert missing(grants([policy]), wanted) == []

    @pytest.mark.parametrize("capability", ["submit-job", "purge-job", "deregister-job"])
    def test_any_one_of_the_stop_capabilities_will_do(self, capability: str) -> None:
        policy = ns("default", "dispatch-job", "list-jobs", capability, paths=CREDENTIALS)
        assert missing(grants([rules(policy)]), needs("default", ["github-runner"])) == []

    def test_each_missing_capability_is_named(self) -> None:
        granted = grants([rules(ns("default", "list-jobs"))])
        lacking = missing(granted, needs("default", ["github-runner"]))
        assert [need.any_of[0] if need.any_of else need.op for need in lacking] == [
            "dispatch-job",
            "deregister-job",
            "write",
            "destroy",
            "list",
        ]

    def test_policies_add_up(self) -> None:
        granted = grants([rules(ns("default", "dispatch-job")), rules(ns("default", "list-jobs"))])
        assert granted.allows(DISPATCH)
        assert granted.allows(Need("default", ("list-jobs",)))

    def test_deny_wins_in_either_order(self) -> None:
        allow, deny = rules(ns("default", "dispatch-job")), rules(ns("default", "deny"))
        assert not grants([allow, deny]).allows(DISPATCH)
        assert not grants([deny, allow]).allows(DISPATCH)
        assert not grants([rules(ns("default", policy="deny"))]).allows(DISPATCH)

    def test_exact_namespace_then_the_closest_glob(self) -> None:
        granted = grants(
            [rules(ns("*", "dispatch-job"), ns("prod-*", "list-jobs"), ns("prod-web", "read-job"))]
        )
        assert granted.allows(Need("ci", ("dispatch-job",)))
        # prod-api: "prod-*" is closer than "*", and grants no dispatch-job.
        assert not granted.allows(Need("prod-api", ("dispatch-job",)))
        assert granted.allows(Need("prod-api", ("list-jobs",)))
        # prod-web has an exact rule: no glob applies.
        assert not granted.allows(Need("prod-web", ("list-jobs",)))
        assert not grants([rules(ns("other", "dispatch-job"))]).allows(DISPATCH)

    def test_variable_paths_exact_then_glob(self) -> None:
        granted = grants(
            [
                rules(
                    ns(
                        "default",
                        paths={
                            "nomad/jobs/*": ["list"],
                            "nomad/jobs/j/credentials/*": ["write", "destroy"],
                            "nomad/jobs/j/credentials/rod-1-1": ["deny"],
                        },
                    )
                )
            ]
        )
        write = Need("default", path="nomad/jobs/j/credentials/rod-2-1", op="write")
        assert granted.allows(write)
        # the closest glob wins alone: no `list` from the wider nomad/jobs/*
        assert not granted.allows(Need("default", path=write.path, op="list"))
        assert not granted.allows(
            Need("default", path="nomad/jobs/j/credentials/rod-1-1", op="write")
        )
        assert granted.allows(Need("default", path="nomad/jobs/k", op="list"))
        assert not granted.allows(Need("other", path=write.path, op="write"))

    def test_no_policy_grants_nothing(self) -> None:
        assert missing(grants([]), [DISPATCH]) == [DISPATCH]
        assert missing(grants([{}]), [DISPATCH]) == [DISPATCH]
