@fixture.reliable_stack
Feature: A cancelled job leaves no runner behind
  A job cancelled before a runner picks it up would leave its runner waiting for work that never
  comes. GitHub says so (`completed`, no runner): the dispatcher withdraws the runner it has not
  started yet, or removes the one it dispatched, and a late copy of the job's `queued` webhook
  starts nothing. The reconciler retires whatever is left, and the cluster scales back to zero.

  Scenario: A job is cancelled before a runner picks it up
    Given GitHub delivers the next webhook late
    And a job is queued for a self-hosted runner
    When the job is cancelled before a runner picks it up
    Then no runner is left for the job, and nothing runs on the cluster
    And the late queued webhook of the job started no runner
