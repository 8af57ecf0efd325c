@fixture.reliable_stack @also.deployed
Feature: One runner per job, however often GitHub delivers
  Every delivery of one event carries the same GUID. An operator may redeliver it, and GitHub
  may send it twice. Either way the job gets one runner, not two.

  Scenario: A webhook is redelivered
    Given a job is queued for a self-hosted runner
    When its webhook delivery is redelivered
    Then the job runs on exactly one runner

  Scenario: A webhook arrives twice
    Given GitHub delivers the next webhook twice
    When a job is queued for a self-hosted runner
    Then GitHub delivered the webhook twice
    And the job runs on exactly one runner
