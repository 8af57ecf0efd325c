@fixture.reliable_stack
Feature: A Nomad outage delays runners but loses none
  While Nomad answers errors, GitHub's webhooks are still acknowledged; the dispatcher retries
  with backoff, and the reconciler backs it up. Once Nomad is back, every job has its runner.

  Scenario: Nomad refuses dispatches for a while
    Given Nomad answers 503 to the next 4 dispatch requests
    When a pull request starts 2 jobs on self-hosted runners
    Then every webhook was acknowledged
    And every job runs on exactly one runner of its own
    And Nomad refused those dispatch requests before it dispatched again
