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


class TestTaskBlocks:
    spec = """
    job "j" {
      type = "service"
      group "g" {
        network {
          port "http" { to = 8080 }
          port "admin" { static = 9000 }
        }
        spread { attribute = "${node.unique.id}" }
        update { max_parallel = 1  min_healthy_time = "10s" }
        service {
          name = "web"
          port = "http"
          check {
            type = "http"
            path = "/healthz"
            interval = "10s"
            timeout = "2s"
            check_restart { limit = 3 }
          }
        }
        task "t" {
          driver = "docker"
          config { args = ["--config", "${NOMAD_TASK_DIR}/app.toml"] }
          env { ADDR = "http://${attr.unique.network.ip-address}:4646" }
          shutdown_delay = "5s"
          identity {
            env  = true
            file = true
          }
          template {
            destination = "secrets/app.env"
            env         = true
            perms       = "0400"
            uid         = 10001
            gid         = 10001
            change_mode = "noop"
            data        = <<-EOT
            {{ with nomadVar "nomad/jobs/j" }}{{ range .Tuples }}{{ .K }}={{ toJSON .V }}
            {{ end }}{{ end }}
            EOT
          }
        }
      }
    }
    """

    def test_template_and_identity(self) -> None:
        (task,) = parse_job(self.spec)["TaskGroups"][0]["Tasks"]
        (template,) = task["Templates"]
        assert template == {
            "DestPath": "secrets/app.env",
            "Envvars": True,
            "Perms": "0400",
            "Uid": 10001,
            "Gid": 10001,
            "ChangeMode": "noop",
            # HCL keeps a heredoc's last newline (python-hcl2 alone would drop it).
            "EmbeddedTmpl": '{{ with nomadVar "nomad/jobs/j" }}{{ range .Tuples }}'
            "{{ .K }}={{ toJSON .V }}\n{{ end }}{{ end }}\n",
        }
        assert task["Identities"] == [{"Env": True, "File": True}]
        assert task["ShutdownDelay"] == 5 * 10**9

    def test_runtime_references_stay_for_the_client(self) -> None:
        (task,) = parse_job(self.spec)["TaskGroups"][0]["Tasks"]
        assert task["Env"] == {"ADDR": "http://${attr.unique.network.ip-address}:4646"}
        assert task["Config"]["args"] == ["--config", "${NOMAD_TASK_DIR}/app.toml"]

    def test_group_blocks_are_kept(self) -> None:
        (group,) = parse_job(self.spec)["TaskGroups"]
        (network,) = group["Networks"]
        assert network["DynamicPorts"] == [{"Label": "http", "Value": 0, "To": 8080}]
        assert network["ReservedPorts"] == [{"Label": "admin", "Value": 9000}]
        assert group["Spreads"] == [{"Attribute": "${node.unique.id}"}]
        assert group["Update"] == {"MaxParallel": 1, "MinHealthyTime": 10 * 10**9}
        (service,) = group["Services"]
        assert service["Checks"][0]["CheckRestart"] == {"Limit": 3}

    def test_bad_template_fields(self) -> None:
        with pytest.raises(JobSpecError, match="unsupported argument or block 'vault'"):
            parse_job('job "j" { group "g" { task "t" { template { vault = 1 } } } }')
        with pytest.raises(ValueError, match="invalid literal for int"):
            parse_job('job "j" { group "g" { task "t" { template { perms = "0999" } } } }')
