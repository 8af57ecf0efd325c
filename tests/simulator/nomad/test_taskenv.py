"""simulator.nomad.taskenv: the task environment Nomad builds."""

from __future__ import annotations

from typing import Any

from simulator.nomad.taskenv import (
    TaskPaths,
    clean_env_var,
    interpolate,
    interpolate_config,
    task_env,
)

PATHS = TaskPaths("/a/alloc", "/a/t", "/a/t/local", "/a/t/secrets")
NODE = {"ID": "node-1", "Name": "n", "Datacenter": "dc1", "Address": "10.0.0.5"}


def env_for(job: dict[str, Any], task: dict[str, Any] | None = None) -> dict[str, str]:
    task = {"Name": "t", "Meta": {}, "Env": {}, **(task or {})}
    group = {"Name": "g", "Meta": {"group-key": "gv"}}
    return task_env(
        job=job,
        group=group,
        task=task,
        alloc_id="0123456789abcdef",
        alloc_index=0,
        paths=PATHS,
        node=NODE,
        base={"PATH": "/usr/bin"},
    )


JOB = {
    "ID": "sim/dispatch-1-abcd",
    "Name": "sim/dispatch-1-abcd",
    "ParentID": "sim",
    "Namespace": "default",
    "Dispatched": True,
    "ParameterizedJob": {"MetaRequired": ["need"], "MetaOptional": ["maybe", "also"]},
    "Meta": {"need": "x", "also": "y", "dotted.key": "d"},
}


class TestCleanEnvVar:
    def test_replaces_unsafe_keeps_dots(self) -> None:
        assert clean_env_var("NOMAD_META_a-b c.d") == "NOMAD_META_a_b_c.d"


class TestTaskEnv:
    def test_nomad_variables_and_base(self) -> None:
        env = env_for(JOB)
        assert env["PATH"] == "/usr/bin"
        assert env["NOMAD_JOB_ID"] == env["NOMAD_JOB_NAME"] == "sim/dispatch-1-abcd"
        assert env["NOMAD_JOB_PARENT_ID"] == "sim"
        assert env["NOMAD_TASK_DIR"] == "/a/t/local"
        assert env["NOMAD_ALLOC_DIR"] == "/a/alloc"
        assert env["NOMAD_ALLOC_ID"] == "0123456789abcdef"
        assert env["NOMAD_TASK_NAME"] == "t" and env["NOMAD_GROUP_NAME"] == "g"
        assert env["NOMAD_NAMESPACE"] == "default"

    def test_meta_both_spellings_and_optional_empty(self) -> None:
        env = env_for(JOB)
        assert env["NOMAD_META_need"] == env["NOMAD_META_NEED"] == "x"
        assert env["NOMAD_META_maybe"] == env["NOMAD_META_MAYBE"] == ""
        assert env["NOMAD_META_also"] == "y"
        assert env["NOMAD_META_group_key"] == env["NOMAD_META_GROUP_KEY"] == "gv"
        assert env["NOMAD_META_DOTTED.KEY"] == "d"

    def test_not_dispatched_has_no_empty_optionals(self) -> None:
        env = env_for({**JOB, "Dispatched": False})
        assert "NOMAD_META_maybe" not in env

    def test_env_block_interpolates(self) -> None:
        env = env_for(JOB, {"Env": {"RUNNER": "${NOMAD_META_need}-${NOMAD_TASK_NAME}"}})
        assert env["RUNNER"] == "x-t"

    def test_node_attributes_interpolate_but_are_not_variables(self) -> None:
        # rod.nomad.hcl: NOMAD_ADDR = "http://${attr.unique.network.ip-address}:4646"
        env = env_for(JOB, {"Env": {"ADDR": "http://${attr.unique.network.ip-address}:4646",
                                    "NODE": "${node.unique.id}/${node.datacenter}"}})  # fmt: skip
        assert (env["ADDR"], env["NODE"]) == ("http://10.0.0.5:4646", "node-1/dc1")
        assert "attr.unique.network.ip-address" not in env


class TestInterpolate:
    def test_unknown_names_stay(self) -> None:
        assert interpolate("${A} ${B}", {"A": "1"}) == "1 ${B}"


class TestInterpolateConfig:
    def test_strings_and_lists(self) -> None:
        config = {"command": "${A}", "args": ["-x", "${A}", 3], "port": 1}
        assert interpolate_config(config, {"A": "a"}) == {
            "command": "a",
            "args": ["-x", "a", 3],
            "port": 1,
        }
