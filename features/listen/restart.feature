@intake.listen
Feature: A listener killed in the middle of a burst loses no job
  `rod listen` keeps its work in memory, and its session on the scale set outlives it: GitHub
  refuses a new session (409) until the old one expires. Started again, the listener waits that
  out instead of exiting, takes the statistics of its new session as the number of runners
  wanted, removes the runners its predecessor registered but never handed to Nomad, and makes
  only the runners still missing.

  Scenario: The listener is killed while Nomad hangs on some dispatches
    Given Nomad hangs on the next 2 dispatch requests
    When a pull request starts 6 jobs on self-hosted runners
    And the listener is killed with SIGKILL while 2 of its runners wait for Nomad
    And the listener is started again
    Then GitHub refuses it a session while the old one lives
    When the old session expires
    Then every job runs once on a fresh runner, and no runner starts without a job
    And the number of running runners on the cluster is zero
