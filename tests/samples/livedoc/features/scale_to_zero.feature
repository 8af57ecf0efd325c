Feature: Scale to Zero
  Resource consumption scales as a function of demand

  Background: There was demand a moment ago
    Given a pull request has started 3 jobs on self-hosted runners

  Scenario: There are no triggered workflows
    Given there are no jobs currently scheduled by workflows
    When the number of workflow jobs is zero
    Then the number of running runners on the cluster is zero
