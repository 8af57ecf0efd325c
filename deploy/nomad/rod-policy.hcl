# ACL policy of `rod serve` and `rod reconcile`: exactly the calls they make, nothing more.
#
#   nomad acl policy apply -description "runners-on-demand dispatcher" rod deploy/nomad/rod-policy.hcl
#   nomad acl token create -name rod -type client -policy rod
#
# The token's Secret ID is the NOMAD_TOKEN item of the Variable nomad/jobs/rod (README, "Deploying").
# Each capability and the call that needs it (nomad/job_endpoint.go, nomad/variables_endpoint.go):
#   dispatch-job    POST   /v1/job/github-runner/dispatch                  one runner per job
#   list-jobs       GET    /v1/jobs?prefix=github-runner/&meta=true        the reconciler's view
#                   GET    /v1/jobs?prefix=github-runner&per_page=1       is the runner job there
#                                                                           (start, /readyz)
#   deregister-job  DELETE /v1/job/<child> (no purge)                      stop a surplus child
# `deregister-job` exists since Nomad 1.11.2 (GH-27287); on an older server use `submit-job`
# instead, which also lets the token register any job (and so run any program on the clients).
# GET /v1/agent/health (/readyz) needs no capability; nor do GET /v1/acl/token/self and
# GET /v1/acl/policy/<name> (rod's check of this token at start and in /readyz): a token may
# read itself and the policies it holds. Nothing reads a job or an allocation.
#
# The variables block delivers the runner credential (README, "Threat model"): rod writes each
# runner's credential at nomad/jobs/github-runner/credentials/<runner name> just before the
# dispatch (PUT ?cas=0: create only; on a conflict it replaces what an earlier try left, at that
# index), lists the path (has an earlier try stored this runner's credential? which are spent?),
# and destroys each one once its runner is online or its child is dead. It never reads one back:
# the dispatch payload, which read-job shows, carries none. For another runner job (a pool's
# `nomad_job`), repeat the path with its name.
#
# The reconciler keeps the repositories it heard of across restarts in the Variable
# rod/served-repos (`[reconcile] state_variable`; repository names and times, nothing secret):
#   read   GET /v1/var/rod/served-repos               when it starts, and after a lost write
#   write  PUT /v1/var/rod/served-repos?cas=<index>   soon after a new repository, at ticks
# A path of its own, so the token still reads no runner credential. For another
# `state_variable`, name that path instead; with state_variable = "" leave the rule out.

namespace "default" {
  capabilities = ["dispatch-job", "list-jobs", "deregister-job"]

  variables {
    path "nomad/jobs/github-runner/credentials/*" {
      capabilities = ["write", "destroy", "list"]
    }
    path "rod/served-repos" {
      capabilities = ["read", "write"]
    }
  }
}
