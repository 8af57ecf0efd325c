Feature: A forged webhook gets nowhere
  The dispatcher acts only on deliveries signed with the webhook's secret
  (X-Hub-Signature-256); anything else is refused before it can cost a runner.

  Scenario Outline: A webhook signed with <forgery> is refused
    Given there is a webhook for pull requests
    When someone posts a queued job to the dispatcher signed with <forgery>
    Then the dispatcher answers 401 and nothing is dispatched

    Examples:
      | forgery                     |
      | a wrong secret              |
      | no signature                |
      | a signature of another body |
