@fixture.reliable_stack
Feature: A missed webhook still gets a runner
  GitHub never retries a failed delivery and skips some under load. The reconciler lists the
  queued jobs every interval (one second here) and dispatches a runner for any that has none.

  Scenario: The webhook for a job never arrives
    Given GitHub drops the next webhook
    When a job is queued for a self-hosted runner
    Then the dispatcher never hears of the job
    And the reconciler gives the job a runner
    And the job runs on exactly one runner
