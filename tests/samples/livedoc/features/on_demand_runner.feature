Feature: On Demand Runner
  As a po' boy with a Nomad cluster
  I want just enough self-hosted GitHub runners
  So that I don't have to pay for them in terms of time or money

  The article states this feature twice; each statement is one Rule here.

  Rule: Runners are created based on events in the repository

    Scenario: A pull request is opened
      Given there is a webhook for pull requests
      When a pull request with an action using self-hosted runner is created
      Then a runner is created using the webhook payload

  Rule: Resource consumption scales as a function of demand
    Runners are scheduled only when the relevant runner label is present;
    when the relevant label is not present, we do not create a runner.

    Scenario: A job is tagged as running on a self-hosted runner
      Given a job is scheduled
      When the job requests a runner with the tag "self-hosted"
      Then a runner is created using the webhook payload

    Scenario: A job not tagged as running on a self-hosted runner
      Given a job is scheduled
      When the job requests a runner with a tag not "self-hosted"
      Then no runner is created using the webhook payload
