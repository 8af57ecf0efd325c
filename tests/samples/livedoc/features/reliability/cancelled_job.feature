@fixture.reliable_stack
Feature: A cancelled job leaves no runner behind
  A job cancelled before its runner starts is never picked up, so that runner would wait for
  work that never comes. The reconciler retires it, and the cluster scales back to zero.

  Scenario: A job is cancelled before a runner picks it up
    Given GitHub delivers the next webhook late
    And a job is queued for a self-hosted runner
    When the job is cancelled before a runner picks it up
    Then the runner made for the job is retired
    And the number of running runners on the cluster is zero
