"""The feature files keep the article's Gherkin word for word: no scenario dropped or reworded.

The article is the specification: "Github Runners on Nomad... on demand" (Hashi@Home). Its
Gherkin is quoted below as published; our files may add context (a Rule, a Background, the user
story) but every Feature, Scenario and step of the article must appear, in order.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from behave.model import Feature, Scenario
from behave.parser import parse_file

FEATURES = Path(__file__).resolve().parents[2] / "features"

# (feature, scenario, [(keyword, step text)]) as the article states them.
ARTICLE = [
    ("On Demand Runner", "A pull request is opened", [
        ("Given", "there is a webhook for pull requests"),
        ("When", "a pull request with an action using self-hosted runner is created"),
        ("Then", "a runner is created using the webhook payload"),
    ]),
    ("Scale to Zero", "There are no triggered workflows", [
        ("Given", "there are no jobs currently scheduled by workflows"),
        ("When", "the number of workflow jobs is zero"),
        ("Then", "the number of running runners on the cluster is zero"),
    ]),
    ("Ephemeral Runners", "A CI/CD job is scheduled", [
        ("Given", "a Github Actions workflow is triggered"),
        ("When", "a job is scheduled as part of the workflow"),
        ("Then", "the runner created is used by the job"),
    ]),
    ("Ephemeral Runners", "A CI/CD job is completed", [
        ("Given", "workflow job is correctly picked up by a runner"),
        ("When", "the job completes"),
        ("Then", "the runner is deregistered and removed from the repository"),
    ]),
    ("On Demand Runner", "A job is tagged as running on a self-hosted runner", [
        ("Given", "a job is scheduled"),
        ("When", 'the job requests a runner with the tag "self-hosted"'),
        ("Then", "a runner is created using the webhook payload"),
    ]),
    ("On Demand Runner", "A job not tagged as running on a self-hosted runner", [
        ("Given", "a job is scheduled"),
        ("When", 'the job requests a runner with a tag not "self-hosted"'),
        ("Then", "no runner is created using the webhook payload"),
    ]),
]  # fmt: skip


def _scenarios(feature: Feature) -> list[Scenario]:
    return [*feature.scenarios, *(s for rule in feature.rules for s in rule.scenarios)]


def _ours() -> dict[tuple[str, str], Scenario]:
    scenarios = {}
    for path in sorted(FEATURES.glob("**/*.feature")):
        feature = parse_file(str(path))
        for scenario in _scenarios(feature):
            scenarios[(feature.name, scenario.name)] = scenario
    return scenarios


@pytest.mark.parametrize(("feature", "scenario", "steps"), ARTICLE, ids=[a[1] for a in ARTICLE])
def test_the_article_scenario_is_kept_word_for_word(
    feature: str, scenario: str, steps: list[tuple[str, str]]
) -> None:
    ours = _ours().get((feature, scenario))
    assert ours is not None, f"features/ lacks Feature {feature!r} / Scenario {scenario!r}"
    own_steps = [(step.keyword, step.name) for step in ours.steps]
    assert own_steps == steps
