@intake.listen
Feature: A job GitHub takes back and offers again gets one runner
  GitHub cancels the assignment of a job no runner picked up in time and offers it again (up to
  three times). The listener acquires it again; the runner it already made for it takes it, and
  no second runner is made.

  Scenario: The runner is late and GitHub reassigns the job
    Given Nomad holds the next dispatch request for 3 seconds
    When a job is queued for a self-hosted runner
    And GitHub takes the job back before a runner picks it up and offers it again
    Then the listener acquires the job again
    And every job runs once on a fresh runner, and no runner starts without a job
    And the number of running runners on the cluster is zero
