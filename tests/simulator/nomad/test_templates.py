"""simulator.nomad.templates: rendering a task's templates as its workload identity."""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path
from typing import Any

import pytest

from simulator.nomad.acl import Acl, Caller, Claim, Identity
from simulator.nomad.acl_store import AclStore
from simulator.nomad.envparse import parse_env
from simulator.nomad.templates import (
    Rendered,
    TemplateFailed,
    VarItem,
    WorkloadApi,
    go_json,
    missing_message,
    render_templates,
)
from simulator.nomad.variables import VariableStore

CHILD = Claim("default", "github-runner", "runner", "runner")
ROOT = Caller(Identity(), Acl(management=True))
BY_NAME = (
    '{{ with nomadVar (printf "nomad/jobs/github-runner/%s" (env "NAME")) }}{{ .jit }}{{ end }}'
)
ENV_TEMPLATE = """{{ with nomadVar "nomad/jobs/github-runner" -}}
{{ range .Tuples }}{{ .K }}={{ toJSON .V }}
{{ end }}{{ end }}"""


@pytest.fixture
def world(tmp_path: Path) -> tuple[WorkloadApi, VariableStore, AclStore, Path]:
    lock = threading.RLock()
    counter = iter(range(2, 10_000))
    acl = AclStore(enabled=True, lock=lock, bump=lambda: next(counter))
    variables = VariableStore(lock=lock, bump=lambda: next(counter), now_ns=lambda: 0)
    api = WorkloadApi(caller=acl.workload, read=variables.read, token=acl.workload_token)
    task_dir = tmp_path / "alloc-id" / "runner"
    (tmp_path / "alloc-id" / "alloc").mkdir(parents=True)
    return api, variables, acl, task_dir


def render(world: Any, *templates: dict[str, Any], env: dict[str, str] | None = None) -> Rendered:
    api, _, _, task_dir = world
    return render_templates(
        list(templates),
        env=env or {},
        task_dir=str(task_dir),
        alloc_dir=str(task_dir.parent / "alloc"),
        claim=CHILD,
        source=api,
    )


def template(data: str, destination: str = "secrets/out", **extra: Any) -> dict[str, Any]:
    return {"EmbeddedTmpl": data, "DestPath": destination, "Perms": "0644", **extra}


class TestRender:
    def test_env_template_round_trips_awkward_secrets(self, world: Any) -> None:
        _, variables, _, task_dir = world
        items = {"A": "p#ss", "B": 'q"uote', "C": "new\nline", "D": "<&>"}
        variables.upsert("default", "nomad/jobs/github-runner", items, cas=None, caller=ROOT)
        rendered = render(world, template(ENV_TEMPLATE, "secrets/x.env", Envvars=True))
        assert rendered.missing == [] and rendered.env == items
        assert parse_env((task_dir / "secrets/x.env").read_text()) == items

    def test_missing_variable_blocks_and_writes_nothing(self, world: Any) -> None:
        _, _, _, task_dir = world
        rendered = render(world, template(ENV_TEMPLATE, Envvars=True), template("static"))
        assert rendered.missing == ["nomad.var.block(nomad/jobs/github-runner@default.global)"]
        assert not (task_dir / "secrets").exists()
        assert missing_message(rendered.missing) == (
            "Missing: nomad.var.block(nomad/jobs/github-runner@default.global)"
        )

    def test_a_path_the_task_may_not_read_stays_missing(self, world: Any) -> None:
        _, variables, _, _ = world
        path = "nomad/jobs/github-runner/rod-1-1"  # a sub-path: no implicit access
        variables.upsert("default", path, {"jit": "x"}, cas=None, caller=ROOT)
        data = BY_NAME
        rendered = render(world, template(data), env={"NAME": "rod-1-1"})
        assert rendered.missing == [f"nomad.var.block({path}@default.global)"]

    def test_a_job_attached_policy_opens_the_sub_paths(self, world: Any) -> None:
        _, variables, acl, task_dir = world
        path = "nomad/jobs/github-runner/rod-1-1"
        variables.upsert("default", path, {"jit": "secret-jit"}, cas=None, caller=ROOT)
        acl.preset("root-secret")
        manager = acl.authenticate("root-secret", lambda *_: None)
        rules = (
            'namespace "default" { variables { path "nomad/jobs/github-runner/*" '
            '{ capabilities = ["read"] } } }'
        )
        job_acl = {
            "Namespace": "default",
            "JobID": "github-runner",
            "Group": "runner",
            "Task": "runner",
        }
        acl.upsert_policy(
            "runner-creds", {"Name": "runner-creds", "Rules": rules, "JobACL": job_acl}, manager
        )
        data = BY_NAME
        rendered = render(world, template(data, Perms="0400"), env={"NAME": "rod-1-1"})
        assert rendered.missing == []
        out = task_dir / "secrets/out"
        assert out.read_text() == "secret-jit"
        assert stat.S_IMODE(os.stat(out).st_mode) == 0o400

    def test_template_errors_fail_the_task(self, world: Any) -> None:
        with pytest.raises(TemplateFailed, match="escapes alloc directory"):
            render(world, template("x", "../../../etc/x"))
        with pytest.raises(TemplateFailed, match='Template failed: template: :1: function "vault"'):
            render(world, template('{{ vault "x" }}'))
        with pytest.raises(
            TemplateFailed,
            match=r"Template failed to read environment variables: error parsing env template "
            r'".*secrets/out": error on line 2: missing =',
        ):
            render(world, template("A=1\nnot an assignment\n", Envvars=True))


class TestGoJson:
    def test_html_safe_like_encoding_json(self) -> None:
        assert go_json("a<b>&c\u2028") == '"a\\u003cb\\u003e\\u0026c\\u2028"'
        assert go_json("é\n") == '"é\\n"'
        assert json.loads(go_json({"K": "v"})) == {"K": "v"}

    def test_a_var_item_marshals_with_go_quote(self) -> None:
        # NomadVarItem.MarshalJSON is fmt's %q: a control byte becomes \x01, which envparse refuses.
        assert go_json(VarItem("a\x01")) == '"a\\x01"'
