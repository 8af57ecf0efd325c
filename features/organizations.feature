@fixture.org_stack
Feature: Organization Runners
  As a platform team running self-hosted runners for a whole organization
  I want one organization webhook and runners in runner groups
  So that every repository a group allows gets a runner, and no other repository does

  The organization octo-corp has the repositories app, api and secret-sauce. The dispatcher
  makes its runners at the organization, in the runner group linux-runners
  (`[[pools]] runner_group = "linux-runners"`).

  Background: One webhook for the whole organization
    Given there is an organization webhook for workflow jobs
    And the runner group "linux-runners" allows the repositories "app" and "api"

  Scenario Outline: A job in any repository the runner group allows gets an organization runner
    When a job in the repository "<repository>" requests a runner with the tag "self-hosted"
    Then an organization runner in the runner group "linux-runners" runs the job

    Examples:
      | repository |
      | app        |
      | api        |

  Scenario: A repository the runner group does not allow gets no runner
    When a job in the repository "secret-sauce" requests a runner with the tag "self-hosted"
    Then no runner is created, and the dispatcher says the runner group does not allow it
