# ACL policy of the runner task: it may read the runner credentials, and nothing else.
#
#   nomad acl policy apply -namespace default -job github-runner -group runner -task runner \
#     -description "runner task: its credential" github-runner deploy/nomad/github-runner-policy.hcl
#
# A task's workload identity may read, without any policy, only the exact paths nomad/jobs,
# nomad/jobs/<job>, nomad/jobs/<job>/<group> and nomad/jobs/<job>/<group>/<task>; never a
# sub-path (acl/acl.go matchingVariablesCapabilitySet). A dispatched child's <job> is its parent
# (structs.Job.GetIDforWorkloadIdentity), so every child of github-runner has this same identity
# and this policy, attached to the parent job, reaches every child. Tasks get no token of their
# own (no `identity { env/file }` in the job): only the job's template reads with it.

namespace "default" {
  variables {
    path "nomad/jobs/github-runner/credentials/*" {
      capabilities = ["read"]
    }
  }
}
