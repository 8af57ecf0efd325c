@fixture.reliable_stack
Feature: Two replicas make one runner per job
  Two `rod serve` replicas behind one URL both receive every delivery (here: one webhook per
  replica). The runner name is also Nomad's idempotency token, so together they make one runner
  per job, and their reconcilers never undo each other's work.

  Scenario: Both replicas receive every webhook
    Given two replicas of the dispatcher receive every webhook
    When a pull request starts 3 jobs on self-hosted runners
    Then every webhook was acknowledged
    And every job runs on exactly one runner of its own
    And the number of running runners on the cluster is zero
