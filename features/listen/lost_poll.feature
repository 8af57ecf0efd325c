@intake.listen
Feature: A poll that is never answered is given up, not waited on forever
  A long poll can vanish on the way (a proxy, a NAT that forgets the connection). The listener
  gives each poll a deadline and asks again; the job that was queued meanwhile is still there.

  Scenario: GitHub never answers one poll
    Given GitHub never answers the listener's next poll
    When a job is queued for a self-hosted runner
    Then the listener gave up on that poll and polled again
    And every job runs once on a fresh runner, and no runner starts without a job
    And the number of running runners on the cluster is zero
