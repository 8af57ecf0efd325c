# One dispatched child of this parameterized job = one ephemeral GitHub Actions runner.
#
# `rod serve` dispatches it with POST /v1/job/github-runner/dispatch?idempotency_token=...
# (https://developer.hashicorp.com/nomad/api-docs/jobs#dispatch-job):
#   Meta:    REPO_FULL_NAME, REPO_SHORT_NAME, WORKFLOW_RUN, GITHUB_JOB_ID, RUNNER_NAME, [RUNNER_LABELS]
#   Payload: base64 of JSON {repo, fork, job, run_id, url[, runner_group]}, which Nomad decodes
#            and writes to local/payload.json before the task starts.
# Neither carries the runner credential: anyone who may read the job (read-job) reads both. Just
# before the dispatch, rod writes the credential to the Nomad Variable
# nomad/jobs/github-runner/credentials/<RUNNER_NAME> (one item, jit_config or registration_token);
# the template below renders it into the task's private secrets/ dir, reading it with the task's
# workload identity, which deploy/nomad/github-runner-policy.hcl (attached to this job) lets read
# it; the script removes the file before the runner starts, and rod destroys the Variable once the
# runner is online or its child is dead (README, "Threat model").
#
# Register it with:  nomad job run deploy/nomad/github-runner.nomad.hcl
# Tests and `rod demo` load this same file into the Nomad emulator, overriding only the variables
# runner_command and runner_args so that the task runs `rod sim runner` instead of the real runner.

variable "image" {
  type        = string
  description = "Container image with the official GitHub Actions runner in /home/runner."
  default     = "ghcr.io/actions/actions-runner:2.329.0"
}

variable "datacenters" {
  type    = list(string)
  default = ["*"]
}

variable "runner_command" {
  type        = string
  description = "Program the task runs; the default shell starts the runner from secrets/credential."
  default     = "/bin/bash"
}

variable "runner_args" {
  type        = list(string)
  description = "Arguments of runner_command. The default script starts the runner from its credential."
  default = [
    "-c",
    <<-EOT
    set -eu
    payload="$NOMAD_TASK_DIR/payload.json"
    credential="$NOMAD_SECRETS_DIR/credential"
    field() { sed -n "s/.*\"$1\": *\"\\([^\"]*\\)\".*/\\1/p" "$payload"; }
    # The credential the template rendered from the dispatcher's Nomad Variable (`name=value`).
    secret() { sed -n "s/^$1=//p" "$credential"; }
    if [ ! -s "$credential" ]; then
      echo "no runner credential in $credential" >&2
      exit 1
    fi
    jit="$(secret jit_config)"
    token="$(secret registration_token)"
    # The job's steps run as this user: leave them no credential to read.
    rm -f "$credential"
    if [ -z "$jit$token" ]; then
      echo "no jit_config or registration_token in $credential" >&2
      exit 1
    fi
    cd "$${RUNNER_HOME:-/home/runner}"
    # Credentials go through ACTIONS_RUNNER_INPUT_* (read, then removed from its environment, by
    # the runner's CommandSettings), never on a command line that `ps` would show.
    if [ -n "$jit" ]; then
      # https://docs.github.com/rest/actions/self-hosted-runners#create-configuration-for-a-just-in-time-runner-for-a-repository
      ACTIONS_RUNNER_INPUT_JITCONFIG="$jit" exec ./run.sh
    fi
    # An org runner may name its runner group (payload runner_group); else the default group.
    group="$(field runner_group)"
    ACTIONS_RUNNER_INPUT_TOKEN="$token" \
      ./config.sh --unattended --ephemeral --disableupdate --no-default-labels \
      --url "$(field url)" --name "$NOMAD_META_RUNNER_NAME" \
      --labels "$${NOMAD_META_RUNNER_LABELS:-self-hosted}" $${group:+--runnergroup "$group"}
    exec ./run.sh
    EOT
  ]
}

variable "runner_uid" {
  type        = number
  description = "UID the image runs the runner as (actions-runner: 1001); it owns the credential file."
  default     = 1001
}

variable "cpu" {
  type        = number
  description = "MHz reserved for one runner."
  default     = 2000
}

variable "memory" {
  type        = number
  description = "MiB reserved for one runner."
  default     = 4096
}

job "github-runner" {
  type        = "batch"
  datacenters = var.datacenters

  # Children inherit this; the reconciler touches only jobs and runners that carry it.
  meta {
    managed_by = "runners-on-demand"
  }

  parameterized {
    payload       = "required"
    meta_required = ["REPO_FULL_NAME", "REPO_SHORT_NAME", "WORKFLOW_RUN", "GITHUB_JOB_ID", "RUNNER_NAME"]
    meta_optional = ["RUNNER_LABELS"]
  }

  group "runner" {
    count = 1

    # An ephemeral runner is used once: never restart or reschedule it in place. If it fails
    # before taking its job, the dispatcher's reconciler dispatches a new one.
    restart {
      attempts = 0
      mode     = "fail"
    }

    reschedule {
      attempts  = 0
      unlimited = false
    }

    task "runner" {
      driver = "docker"

      dispatch_payload {
        file = "payload.json"
      }

      # The runner credential, from the Variable the dispatcher writes before dispatching. The task
      # reads it with its workload identity: a dispatched child's identity is the parent job's, and
      # deploy/nomad/github-runner-policy.hcl (attached to it) grants read on credentials/*.
      # `nomadVar` blocks until the Variable is readable, so a missing policy shows as a task
      # pending on its template ("Missing: nomad.var.block(...)"), never as a runner without a
      # credential. `noop`: when the dispatcher destroys the Variable once used, nothing restarts.
      template {
        destination = "secrets/credential"
        perms       = "0400"
        uid         = var.runner_uid
        gid         = var.runner_uid
        change_mode = "noop"
        data        = <<-EOT
        {{ with nomadVar (printf "nomad/jobs/%s/credentials/%s" (env "NOMAD_JOB_PARENT_ID") (env "NOMAD_META_RUNNER_NAME")) -}}
        {{ range .Tuples }}{{ .K }}={{ .V }}
        {{ end }}{{ end -}}
        EOT
      }

      config {
        image   = var.image
        command = var.runner_command
        args    = var.runner_args
      }

      # The runner finishes its current step and deregisters on SIGTERM.
      kill_timeout = "30s"

      resources {
        cpu    = var.cpu
        memory = var.memory
      }
    }
  }
}
