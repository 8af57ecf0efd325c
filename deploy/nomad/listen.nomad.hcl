# The scale-set listener, `rod listen`, as a Nomad service job: runners on demand for a cluster
# GitHub cannot reach. It only makes outbound calls (GitHub's API and the Actions service's
# message queue over HTTPS, and Nomad's API); nothing routes to it and no port is published for
# GitHub. The one port below is for Nomad's own health checks and a Prometheus scrape.
#
# One instance: a scale set has one message session at a time. A second instance would wait as a
# standby (GitHub answers it 409 until the first one's session ends) and take over after; Nomad's
# restart does the same job here. On SIGTERM the listener drains its queue and deletes its
# session, so the next allocation starts without waiting for the session to expire.
#
# Secrets come from the Nomad Variable at nomad/jobs/rod-listen, which this job's tasks may read:
#   nomad var put nomad/jobs/rod-listen GITHUB_TOKEN=... NOMAD_TOKEN=...
# (or GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY instead of GITHUB_TOKEN; then, for an organization,
# `installation_id` in [listen]). No webhook secret: there is no webhook. NOMAD_TOKEN is a token of
# deploy/nomad/rod-policy.hcl: the listener lists, dispatches and stops the runner job's children,
# exactly what `rod serve` does. TLS to Nomad as in rod.nomad.hcl: -var nomad_addr=https://...,
# NOMAD_CACERT=@ca.pem (and NOMAD_CLIENT_CERT, NOMAD_CLIENT_KEY for mutual TLS) in the Variable.
#
# Register it with a config file holding the [listen] table (at least `url`):
#   nomad job run -var image=ghcr.io/you/runners-on-demand:0.1.0 \
#     -var config_toml="$(cat rod-listen.toml)" deploy/nomad/listen.nomad.hcl

variable "image" {
  type        = string
  description = "The image built from this repository's Dockerfile (required)."
}

variable "config_toml" {
  type        = string
  description = "rod.toml with the [listen] table: url (required), scale_set, labels, min_runners, max_runners (see rod.example.toml)."
}

variable "datacenters" {
  type    = list(string)
  default = ["*"]
}

variable "nomad_addr" {
  type        = string
  description = "Nomad's HTTP API as the task reaches it; by default the agent on its own node."
  # $${...} stays a runtime reference: the client fills in the node's address.
  default = "http://$${attr.unique.network.ip-address}:4646"
}

job "rod-listen" {
  type        = "service"
  datacenters = var.datacenters

  group "listener" {
    count = 1

    network {
      # Health and metrics only; the Nomad client reaches it for the checks below.
      port "health" {
        to = 8081
      }
    }

    restart {
      attempts = 10
      interval = "10m"
      delay    = "15s"
      mode     = "delay"
    }

    service {
      name     = "rod-listen"
      port     = "health"
      provider = "nomad"
      tags     = ["metrics"]

      # Liveness: a listener whose loop stopped is restarted.
      check {
        name     = "alive"
        type     = "http"
        path     = "/healthz"
        interval = "10s"
        timeout  = "2s"

        check_restart {
          limit = 3
          grace = "30s"
        }
      }

      # Readiness: a session on the scale set, a message queue that answers, Nomad reachable.
      # Not ready while GitHub refuses a session (a crashed predecessor's): that is waited out.
      check {
        name     = "ready"
        type     = "http"
        path     = "/readyz"
        interval = "15s"
        timeout  = "5s"
      }
    }

    task "listen" {
      driver = "docker"

      config {
        image      = var.image
        ports      = ["health"]
        entrypoint = ["rod"]
        args = [
          "listen", "--config", "${NOMAD_TASK_DIR}/rod.toml", "--host", "0.0.0.0", "--port", "8081",
        ]
      }

      env {
        # With TLS: -var nomad_addr=https://... and NOMAD_CACERT in the Variable (see below).
        NOMAD_ADDR = var.nomad_addr
      }

      # Secrets as environment variables, JSON-quoted for go-envparse (see rod.nomad.hcl).
      template {
        destination = "secrets/rod.env"
        env         = true
        change_mode = "restart"
        data        = <<-EOT
        {{ with nomadVar "nomad/jobs/rod-listen" -}}
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
        {{ with nomadVar "nomad/jobs/rod-listen" }}{{ range .Tuples }}{{ if eq .K "GITHUB_APP_PRIVATE_KEY" }}{{ .V }}{{ end }}{{ end }}{{ end -}}
        EOT
      }

      template {
        destination = "secrets/nomad_cacert.pem"
        perms       = "0400"
        uid         = 10001
        gid         = 10001
        change_mode = "restart"
        data        = <<-EOT
        {{ with nomadVar "nomad/jobs/rod-listen" }}{{ range .Tuples }}{{ if eq .K "NOMAD_CACERT" }}{{ .V }}{{ end }}{{ end }}{{ end -}}
        EOT
      }

      template {
        destination = "secrets/nomad_client_cert.pem"
        perms       = "0400"
        uid         = 10001
        gid         = 10001
        change_mode = "restart"
        data        = <<-EOT
        {{ with nomadVar "nomad/jobs/rod-listen" }}{{ range .Tuples }}{{ if eq .K "NOMAD_CLIENT_CERT" }}{{ .V }}{{ end }}{{ end }}{{ end -}}
        EOT
      }

      template {
        destination = "secrets/nomad_client_key.pem"
        perms       = "0400"
        uid         = 10001
        gid         = 10001
        change_mode = "restart"
        data        = <<-EOT
        {{ with nomadVar "nomad/jobs/rod-listen" }}{{ range .Tuples }}{{ if eq .K "NOMAD_CLIENT_KEY" }}{{ .V }}{{ end }}{{ end }}{{ end -}}
        EOT
      }

      template {
        destination = "local/rod.toml"
        change_mode = "restart"
        data        = var.config_toml
      }

      # SIGTERM: the poll is dropped, queued dispatches drain (20 s), the session is deleted.
      kill_timeout = "30s"

      resources {
        cpu    = 200
        memory = 256
      }
    }
  }
}
