"""simulator.nomad.hcl: the real job spec and the supported HCL subset."""

from __future__ import annotations

import pytest

from simulator.nomad.hcl import JobSpecError, parse_job

from .conftest import SPEC, variables


class TestParseJob:
    def test_real_spec_defaults(self) -> None:
        job = parse_job(SPEC.read_text())
        assert job["ID"] == job["Name"] == "github-runner"
        assert job["Type"] == "batch"
        assert job["Datacenters"] == ["*"]
        assert job["Meta"] == {"managed_by": "runners-on-demand"}
        assert job["ParameterizedJob"] == {
            "Payload": "required",
            "MetaRequired": [
                "REPO_FULL_NAME",
                "REPO_SHORT_NAME",
                "WORKFLOW_RUN",
                "GITHUB_JOB_ID",
                "RUNNER_NAME",
            ],
            "MetaOptional": ["RUNNER_LABELS"],
        }
        (group,) = job["TaskGroups"]
        assert group["Name"] == "runner" and group["Count"] == 1
        assert group["RestartPolicy"] == {"Attempts": 0, "Mode": "fail"}
        (task,) = group["Tasks"]
        assert task["Driver"] == "docker"
        assert task["DispatchPayload"] == {"File": "payload.json"}
        assert task["KillTimeout"] == 30 * 10**9
        assert task["Resources"] == {"CPU": 2000, "MemoryMB": 4096}
        assert task["Config"]["image"] == "ghcr.io/actions/actions-runner:2.329.0"
        assert task["Config"]["command"] == "/bin/bash"
        # The heredoc (<<-EOT) is dedented and its escapes kept for the shell.
        script = task["Config"]["args"][1]
        assert script.startswith('set -eu\npayload="$NOMAD_TASK_DIR/payload.json"\n')
        assert "exec ./run.sh" in script

    def test_variables_override(self) -> None:
        job = parse_job(SPEC.read_text(), variables("/usr/bin/env", ["python3", "-V"]) + "cpu = 10")
        task = job["TaskGroups"][0]["Tasks"][0]
        assert task["Config"]["command"] == "/usr/bin/env"
        assert task["Config"]["args"] == ["python3", "-V"]
        assert task["Resources"]["CPU"] == 10

    def test_interpolation_inside_strings_and_escapes(self) -> None:
        spec = """
        variable "who" { default = "ci" }
        job "j" {
          type = "batch"
          meta { owner = "team-${var.who}" }
          group "g" {
            task "t" {
              driver = "raw_exec"
              config { command = "echo" }
              env { NAME = "$${NOMAD_META_owner}" }
            }
          }
        }
        """
        job = parse_job(spec)
        assert job["Meta"] == {"owner": "team-ci"}
        assert job["TaskGroups"][0]["Tasks"][0]["Env"] == {"NAME": "${NOMAD_META_owner}"}

    @pytest.mark.parametrize(
        ("spec", "variables_text", "message"),
        [
            ('job "j" { type = "${upper(var.x)}" }', "", "unsupported expression"),
            ('job "j" { type = var.x }', "", "undeclared input variable"),
            ('variable "a" { default = 1 }\njob "j" {}', "b = 2", 'variable named "b"'),
            ('job "j" { bogus = 1 }', "", "unsupported argument or block 'bogus'"),
            ('job "a" {}\njob "b" {}', "", "exactly one job"),
            ("job {", "", r"\S"),
        ],
    )
    def test_errors(self, spec: str, variables_text: str, message: str) -> None:
        with pytest.raises(JobSpecError, match=message):
            parse_job(spec, variables_text)
