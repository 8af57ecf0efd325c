"""simulator.nomad.acl: policy rules as acl.Parse reads them, and the compiled ACL's answers."""

from __future__ import annotations

import json

import pytest

from simulator.nomad.acl import (
    SHORTHANDS,
    Acl,
    Claim,
    PolicyError,
    glob_match,
    parse_rules,
    rules_json,
    workload_paths,
)

ROD_RULES = """
namespace "default" {
  capabilities = ["dispatch-job", "read-job", "list-jobs", "deregister-job"]
  variables {
    path "nomad/jobs/github-runner/*" {
      capabilities = ["write", "destroy", "list"]
    }
  }
}
"""
CHILD = Claim("default", "github-runner", "runner", "runner")


class TestParseRules:
    def test_capabilities_and_variable_paths(self) -> None:
        (ns,) = parse_rules(ROD_RULES).namespaces
        assert ns.name == "default"
        assert ns.capabilities == {"dispatch-job", "read-job", "list-jobs", "deregister-job"}
        assert ns.variables == (("nomad/jobs/github-runner/*", {"write", "destroy", "list"}),)

    def test_shorthand_expands_and_read_implies_list(self) -> None:
        rules = parse_rules(
            'namespace "*" { policy = "read" variables { path "a" { capabilities = ["read"] } } }'
        )
        (ns,) = rules.namespaces
        assert ns.capabilities == set(SHORTHANDS["read"])
        assert "submit-job" not in ns.capabilities and "dispatch-job" not in ns.capabilities
        assert ns.variables == (("a", {"read", "list"}),)
        assert "submit-job" in SHORTHANDS["write"] and "dispatch-job" in SHORTHANDS["write"]

    def test_json_rules(self) -> None:
        text = json.dumps({"namespace": {"default": {"capabilities": ["read-job"]}}})
        (ns,) = parse_rules(text).namespaces
        assert ns.capabilities == {"read-job"}

    @pytest.mark.parametrize(
        ("rules", "message"),
        [
            ('namespace "default" { capabilities = ["fly"] }', "Invalid namespace capability"),
            ('namespace "default" { policy = "admin" }', "Invalid namespace policy"),
            ('namespace "d_x" { policy = "read" }', "Invalid namespace name"),
            (
                'namespace "default" { variables { path "/x" { capabilities = ["read"] } } }',
                "cannot start with a leading '/'",
            ),
            (
                'namespace "default" { variables { path "x" { capabilities = ["own"] } } }',
                "Invalid variable capability 'own' in namespace default",
            ),
            ('node { policy = "admin" }', "Invalid node policy"),
            ('jobs { policy = "read" }', "Invalid or duplicate policy keys: jobs"),
            ('namespace "default" {', "Failed to parse ACL Policy"),
        ],
    )
    def test_refused_with_nomads_words(self, rules: str, message: str) -> None:
        with pytest.raises(PolicyError, match=message.replace("(", r"\(")):
            parse_rules(rules)

    def test_rules_json_shape(self) -> None:
        out = rules_json(parse_rules(ROD_RULES + 'node { policy = "read" }'))
        (ns,) = out["Namespaces"]
        assert ns["Name"] == "default" and "dispatch-job" in ns["Capabilities"]
        assert ns["Variables"]["Paths"][0]["PathSpec"] == "nomad/jobs/github-runner/*"
        assert out["Node"] == {"Policy": "read"}


class TestAcl:
    def test_namespace_capabilities(self) -> None:
        acl = Acl([parse_rules(ROD_RULES)])
        assert acl.allow_ns_op("default", "dispatch-job")
        assert acl.allow_ns_op("default", "submit-job", "purge-job", "deregister-job")
        assert not acl.allow_ns_op("default", "submit-job")
        assert not acl.allow_ns_op("default", "submit-job", "purge-job")  # DELETE ?purge=true
        assert not acl.allow_ns_op("other", "read-job")
        assert acl.allow_ns_op("*", "list-jobs")
        assert not acl.allow_node_read() and not acl.management

    def test_deny_wins_over_every_other_policy(self) -> None:
        acl = Acl([parse_rules('namespace "default" { policy = "write" }'),
                   parse_rules('namespace "default" { policy = "deny" }')])  # fmt: skip
        assert not acl.allow_ns_op("default", "read-job")

    def test_closest_glob_wins(self) -> None:
        acl = Acl([parse_rules('namespace "*" { policy = "read" }\n'
                               'namespace "prod-*" { policy = "deny" }')])  # fmt: skip
        assert acl.allow_ns_op("dev", "read-job")
        assert not acl.allow_ns_op("prod-eu", "read-job")

    def test_variable_paths_exact_then_glob(self) -> None:
        acl = Acl([parse_rules(ROD_RULES)])
        path = "nomad/jobs/github-runner/rod-1-1"
        assert acl.allow_variable("default", path, "write", None)
        assert acl.allow_variable("default", path, "destroy", None)
        assert acl.allow_variable("default", path, "list", None)
        assert not acl.allow_variable("default", path, "read", None)
        assert not acl.allow_variable("default", "nomad/jobs/rod", "write", None)
        assert not acl.allow_variable("other", path, "write", None)

    def test_management_may_do_anything(self) -> None:
        acl = Acl(management=True)
        assert acl.allow_ns_op("x", "submit-job") and acl.allow_node_read()
        assert acl.allow_variable("x", "y", "destroy", None)


class TestWorkloadAccess:
    def test_a_task_reads_exactly_its_own_jobs_paths(self) -> None:
        acl = Acl()
        for path in workload_paths(CHILD):
            assert acl.allow_variable("default", path, "read", CHILD)
            assert acl.allow_variable("default", path, "list", CHILD)
            assert not acl.allow_variable("default", path, "write", CHILD)
        assert workload_paths(CHILD) == (
            "nomad/jobs",
            "nomad/jobs/github-runner",
            "nomad/jobs/github-runner/runner",
            "nomad/jobs/github-runner/runner/runner",
        )

    @pytest.mark.parametrize(
        "path",
        [
            "nomad/jobs/github-runner/rod-1-1",  # a sub-path: not implicit (acl.go L707-713)
            "nomad/jobs/github-runner/runner/runner/x",
            "nomad/jobs/rod",
            "nomad/jobs/github-runner-other",
        ],
    )
    def test_nothing_else(self, path: str) -> None:
        assert not Acl().allow_variable("default", path, "read", CHILD)
        assert not Acl().allow_variable("other", "nomad/jobs/github-runner", "read", CHILD)

    def test_a_policy_on_the_exact_path_replaces_the_implicit_access(self) -> None:
        deny = parse_rules(
            'namespace "default" { variables { path "nomad/jobs/github-runner" '
            '{ capabilities = ["deny"] } } }'
        )
        assert not Acl([deny]).allow_variable("default", "nomad/jobs/github-runner", "read", CHILD)


class TestGlob:
    @pytest.mark.parametrize(
        ("pattern", "subject", "matches"),
        [
            ("a/*", "a/b/c", True),
            ("*", "", True),
            ("a*c", "abc", True),
            ("a*c", "abd", False),
            ("a.b", "axb", False),
            ("x", "x", True),
        ],
    )
    def test_go_glob(self, pattern: str, subject: str, matches: bool) -> None:
        assert glob_match(pattern, subject) is matches
