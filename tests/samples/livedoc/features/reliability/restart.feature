@fixture.reliable_stack
Feature: A dispatcher killed in the middle of a burst loses no job
  `rod serve` keeps its queue in memory. Killed with SIGKILL, it forgets the dispatches it had not
  finished, among them runners it had already registered on GitHub but not yet handed to Nomad,
  and GitHub never redelivers. Started again, its reconciler finds the jobs still queued, retires
  the runners no process will ever hand to Nomad once their idle grace (two seconds here) is
  over, and makes the runners still missing: as many runners start as there are jobs.

  Scenario: The dispatcher is killed while Nomad hangs on some dispatches
    Given Nomad hangs on the next 3 dispatch requests
    When a pull request starts 8 jobs on self-hosted runners
    And the dispatcher is killed with SIGKILL while 3 of its runners wait for Nomad
    And the dispatcher is started again
    Then every job runs once on a fresh runner, and no runner starts without a job
    And the number of running runners on the cluster is zero
