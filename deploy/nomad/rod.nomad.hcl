# The dispatcher, `rod serve`, as a Nomad service job: two instances behind one service name.
#
# Two instances are safe: each dispatch carries ?idempotency_token=rod-{job_id}-{run_attempt},
# so a delivery handled by both (a second hook, a redelivery) still makes one runner job.
# Route GitHub's webhook (POST /webhook) to the healthy instances of service "rod" with any
# ingress that reads Nomad services (Traefik, Fabio, Caddy, a Cloudflare Tunnel...).
#
# Secrets come from the Nomad Variable at nomad/jobs/rod, which this job's tasks may read by
# default (https://developer.hashicorp.com/nomad/docs/concepts/variables#task-access-to-variables).
# Each item becomes the environment variable of the same name, so the keys are upper case:
#   nomad var put nomad/jobs/rod GITHUB_WEBHOOK_SECRET=... GITHUB_TOKEN=... NOMAD_TOKEN=...
# While the webhook secret is rotated, the old one is GITHUB_WEBHOOK_SECRET_PREVIOUS (README,
# "Rotating the webhook secret"); changing the Variable restarts the tasks (change_mode).
# For a GitHub App instead of a token: GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY (the PEM text,
# rendered to a file named by GITHUB_APP_PRIVATE_KEY_FILE), and no GITHUB_TOKEN. With TLS to Nomad
# (-var nomad_addr=https://...): NOMAD_CACERT=@ca.pem, and for mutual TLS NOMAD_CLIENT_CERT=@...
# and NOMAD_CLIENT_KEY=@...; each PEM text is rendered to a file and the variable names its path.
# NOMAD_TOKEN is a token of the policy in deploy/nomad/rod-policy.hcl (README, "Deploying").
#
# Register it with:  nomad job run -var image=ghcr.io/you/runners-on-demand:0.1.0 deploy/nomad/rod.nomad.hcl
# The image has no default: a run without -var image fails with `Unset variable "image"` rather
# than pulling an image nobody published.

variable "image" {
  type        = string
  description = "The dispatcher image built from this repository's Dockerfile (required)."
}

variable "datacenters" {
  type    = list(string)
  default = ["*"]
}

variable "github_api_url" {
  type        = string
  description = "GitHub REST API base: https://api.github.com, or https://HOST/api/v3 for GHES."
  default     = "https://api.github.com"
}

variable "nomad_addr" {
  type        = string
  description = "Nomad's HTTP API as the task reaches it; by default the agent on its own node."
  # $${...} stays a runtime reference: the client fills in the node's address.
  default = "http://$${attr.unique.network.ip-address}:4646"
}

# The image's own ENTRYPOINT, spelled out: the docker driver sends this list as the container's
# Entrypoint (drivers/docker/driver.go createContainerConfig), and Docker keeps the image's only
# when none is sent (moby daemon/commit.go merge: `if userConf.Entrypoint == nil`); an empty list
# would leave the container running `--config ...` as its command.
variable "entrypoint" {
  type        = list(string)
  description = "The program and its subcommand; the default is the Dockerfile's ENTRYPOINT."
  default     = ["rod", "serve"]
}

variable "config_toml" {
  type        = string
  description = "rod.toml (see rod.example.toml); every key is optional."
  default     = <<-EOT
  trigger_label = "self-hosted"
  credential_mode = "jit"

  [server]
  host = "0.0.0.0"
  shutdown_grace_seconds = 25.0
  EOT
}

job "rod" {
  type        = "service"
  datacenters = var.datacenters

  group "dispatcher" {
    count = 2

    # Prefer two different nodes, without refusing to run on a one-node cluster.
    spread {
      attribute = "${node.unique.id}"
    }

    # A dynamic host port per instance, which the task listens on (NOMAD_PORT_http): docker
    # maps it to the same port in the container, and two instances on one node never clash.
    network {
      port "http" {}
    }

    # Roll one instance at a time, only onto instances whose checks pass.
    update {
      max_parallel     = 1
      health_check     = "checks"
      min_healthy_time = "10s"
      healthy_deadline = "2m"
      auto_revert      = true
    }

    service {
      name     = "rod"
      port     = "http"
      provider = "nomad"

      # Liveness: a process that stops answering is restarted.
      check {
        name     = "alive"
        type     = "http"
        path     = "/healthz"
        interval = "10s"
        timeout  = "2s"

        check_restart {
          limit = 3
          grace = "15s"
        }
      }

      # Readiness: Nomad and GitHub reachable. A failing instance is only marked unhealthy
      # (an ingress stops routing to it); it is not restarted.
      check {
        name     = "ready"
        type     = "http"
        path     = "/readyz"
        interval = "15s"
        timeout  = "5s"
      }
    }

    task "rod" {
      driver = "docker"

      config {
        image      = var.image
        entrypoint = var.entrypoint
        ports      = ["http"]
        # After `rod serve` (var.entrypoint). NOMAD_TASK_DIR is /local inside the container.
        args = ["--config", "${NOMAD_TASK_DIR}/rod.toml", "--port", "${NOMAD_PORT_http}"]
      }

      env {
        GITHUB_API_URL = var.github_api_url
        # With TLS: -var nomad_addr=https://... and NOMAD_CACERT in the Variable (see above).
        NOMAD_ADDR = var.nomad_addr
      }

      # Secrets as environment variables, from the Variable's items named after them; the file
      # lives in the task's private secrets/ dir. The App key is written to a file instead.
      # Values are JSON-quoted: Nomad reads env templates with go-envparse, which takes a double-
      # quoted value with JSON escapes, so a secret with `#`, quotes or a newline arrives intact
      # (https://developer.hashicorp.com/nomad/docs/job-specification/template#environment-variables).
      template {
        destination = "secrets/rod.env"
        env         = true
        change_mode = "restart"
        data        = <<-EOT
        {{ with nomadVar "nomad/jobs/rod" -}}
        {{ range .Tuples -}}
        {{ if eq .K "GITHUB_APP_PRIVATE_KEY" -}}
        GITHUB_APP_PRIVATE_KEY_FILE={{ printf "%s/github-app.pem" (env "NOMAD_SECRETS_DIR") | toJSON }}
        {{ else if eq .K "NOMAD_CACERT" "NOMAD_CLIENT_CERT" "NOMAD_CLIENT_KEY" -}}
        {{ .K }}={{ printf "%s/%s.pem" (env "NOMAD_SECRETS_DIR") (toLower .K) | toJSON }}
        {{ else -}}
        {{ .K }}={{ toJSON .V }}
        {{ end -}}
        {{ end -}}
        {{ end -}}
        EOT
      }

      # The PEM files, each owned by the image's user (Dockerfile: USER 10001:10001) and readable
      # by it alone: the App key, and Nomad's CA and client certificate for TLS, since rod reads
      # NOMAD_CACERT, NOMAD_CLIENT_CERT and NOMAD_CLIENT_KEY as file paths as the nomad CLI does
      # (https://developer.hashicorp.com/nomad/commands#environment-variables).
      template {
        destination = "secrets/github-app.pem"
        perms       = "0400"
        uid         = 10001
        gid         = 10001
        change_mode = "restart"
        data        = <<-EOT
        {{ with nomadVar "nomad/jobs/rod" }}{{ range .Tuples }}{{ if eq .K "GITHUB_APP_PRIVATE_KEY" }}{{ .V }}{{ end }}{{ end }}{{ end -}}
        EOT
      }

      template {
        destination = "secrets/nomad_cacert.pem"
        perms       = "0400"
        uid         = 10001
        gid         = 10001
        change_mode = "restart"
        data        = <<-EOT
        {{ with nomadVar "nomad/jobs/rod" }}{{ range .Tuples }}{{ if eq .K "NOMAD_CACERT" }}{{ .V }}{{ end }}{{ end }}{{ end -}}
        EOT
      }

      template {
        destination = "secrets/nomad_client_cert.pem"
        perms       = "0400"
        uid         = 10001
        gid         = 10001
        change_mode = "restart"
        data        = <<-EOT
        {{ with nomadVar "nomad/jobs/rod" }}{{ range .Tuples }}{{ if eq .K "NOMAD_CLIENT_CERT" }}{{ .V }}{{ end }}{{ end }}{{ end -}}
        EOT
      }

      template {
        destination = "secrets/nomad_client_key.pem"
        perms       = "0400"
        uid         = 10001
        gid         = 10001
        change_mode = "restart"
        data        = <<-EOT
        {{ with nomadVar "nomad/jobs/rod" }}{{ range .Tuples }}{{ if eq .K "NOMAD_CLIENT_KEY" }}{{ .V }}{{ end }}{{ end }}{{ end -}}
        EOT
      }

      template {
        destination = "local/rod.toml"
        change_mode = "restart"
        data        = var.config_toml
      }

      # SIGTERM drains queued dispatches for up to shutdown_grace_seconds (25 s) before exit;
      # the service is deregistered 5 s earlier so no new webhook arrives meanwhile.
      shutdown_delay = "5s"
      kill_timeout   = "30s"

      resources {
        cpu    = 200
        memory = 256
      }
    }
  }
}
