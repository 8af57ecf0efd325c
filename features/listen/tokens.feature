@intake.listen
Feature: Expired tokens are renewed, not fatal
  The message queue's token expires (listeners in the field see a 401 about every 50 minutes),
  and so does the admin token the listener renews it with. The listener refreshes its session
  for a new queue token, running the auth chain again for a new admin token, and polls on with
  the same session.

  Scenario: Both tokens expire while the listener waits for a message
    Given the listener's tokens expire while it waits for a message
    When a job is queued for a self-hosted runner
    Then the listener renewed its tokens and kept its session
    And every job runs once on a fresh runner, and no runner starts without a job
    And the number of running runners on the cluster is zero
