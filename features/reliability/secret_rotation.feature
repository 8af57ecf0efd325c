@fixture.reliable_stack
Feature: The webhook secret is rotated without losing a job
  GitHub signs each delivery with the one secret its hook holds, from the moment a new one is
  saved, and never with two. So while the hooks change over, `rod serve` takes the old secret as
  well as the new one: the new one in GITHUB_WEBHOOK_SECRET, the old one in
  GITHUB_WEBHOOK_SECRET_PREVIOUS (README "Rotating the webhook secret", carried out here step by
  step). Every job gets its runner throughout; once the old secret is removed, a delivery signed
  with it gets nowhere.

  Scenario: The hook changes to a new secret while jobs come in
    Given there is a webhook for pull requests
    And the dispatcher is restarted with a new webhook secret, the old one as the previous
    When a job is queued for a self-hosted runner
    Then the job runs on exactly one runner
    And the dispatcher took every delivery, each counted as signed with the old secret
    When "rod hooks sync --reset-secret" gives the webhook the new secret
    And a job is queued for a self-hosted runner
    Then every job runs on exactly one runner of its own
    And the dispatcher took every delivery, none since the reset counted as signed with the old secret
    When the dispatcher is restarted without the old secret
    And a queued job signed with the old secret is posted to the dispatcher
    Then the dispatcher answers 401 and asks Nomad for nothing more
