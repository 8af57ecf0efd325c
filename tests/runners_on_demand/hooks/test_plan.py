"""Tests for runners_on_demand.hooks.plan: which hook is ours, and what each target needs."""

from __future__ import annotations

from runners_on_demand.hooks.plan import (
    HookSpec,
    ListedHook,
    Step,
    StepKind,
    hook_from_rest,
    plan_sync,
)

URL = "https://rod.example.org/webhook"
SPEC = HookSpec(URL)
OURS = ListedHook(1, URL, ("workflow_job",), True, "json", "0", has_secret=True)


def plan(
    selected: dict[str, list[ListedHook]],
    others: dict[str, list[ListedHook]] | None = None,
    **options: bool,
) -> list[Step]:
    return plan_sync(selected, others or {}, SPEC, **options)


class TestHookFromRest:
    def test_a_listed_hook_with_its_secret_masked(self) -> None:
        rest = {
            "id": 1,
            "active": True,
            "events": ["workflow_job"],
            "config": {
                "url": URL,
                "content_type": "json",
                "insecure_ssl": "0",
                "secret": "********",
            },
        }
        assert hook_from_rest(rest) == OURS

    def test_unusable(self) -> None:
        assert hook_from_rest({"config": {}}) is None


class TestHookSpec:
    def test_a_repository_hook_and_an_org_hook(self) -> None:
        body = SPEC.body("s", org=False)
        assert body == {
            "active": True,
            "events": ["workflow_job"],
            "config": {"url": URL, "content_type": "json", "secret": "s", "insecure_ssl": "0"},
        }
        assert SPEC.body("s", org=True) == {"name": "web", **body}


class TestPlanSync:
    def test_create_where_there_is_none(self) -> None:
        other = ListedHook(2, "https://ci.example.org/hook", ("push",))
        assert plan({"o/a": [], "o/b": [other]}) == [
            Step(StepKind.CREATE, "o/a"),
            Step(StepKind.CREATE, "o/b"),
        ]

    def test_ours_as_it_should_be_is_unchanged(self) -> None:
        assert plan({"o/a": [OURS]}) == [Step(StepKind.UNCHANGED, "o/a", 1)]

    def test_ours_otherwise_is_updated_with_the_reasons(self) -> None:
        stale = ListedHook(1, URL + "/", ("workflow_job",), False, "form", "1", has_secret=False)
        (step,) = plan({"o/a": [stale]})
        assert step == Step(
            StepKind.UPDATE, "o/a", 1, "inactive, content type form, insecure_ssl 1, no secret"
        )

    def test_the_secret_is_set_again_only_when_asked(self) -> None:
        (step,) = plan({"o/a": [OURS]}, reset_secret=True)
        assert (step.kind, step.why) == (StepKind.UPDATE, "secret set again")

    def test_a_hand_made_hook_to_the_dispatcher_is_not_ours(self) -> None:
        both = ListedHook(3, URL, ("push", "workflow_job"), True, "json")
        pushes = ListedHook(4, URL, ("push",), True, "json")
        assert plan({"o/a": [both], "o/b": [pushes]}) == [
            Step(StepKind.NOT_OURS, "o/a", 3, "events push, workflow_job; left alone"),
            # it already delivers workflow_job: GitHub would refuse a second hook to the URL
            Step(StepKind.NOT_OURS, "o/b", 4, "events push; left alone"),
            Step(StepKind.CREATE, "o/b"),
        ]

    def test_prune_removes_only_ours_from_the_others(self) -> None:
        foreign = ListedHook(5, URL, ("push", "workflow_job"))
        elsewhere = ListedHook(6, "https://ci.example.org/hook", ("workflow_job",))
        others = {"o/old": [OURS, foreign, elsewhere]}
        assert plan({}, others) == []
        assert plan({}, others, prune=True) == [
            Step(StepKind.PRUNE, "o/old", 1, "no longer selected")
        ]

    def test_steps_read_as_a_plan(self) -> None:
        assert str(Step(StepKind.NOT_OURS, "o/a", 3, "events push; left alone")) == (
            "not ours  o/a (hook 3): events push; left alone"
        )
        assert Step(StepKind.CREATE, "o/a").writes and not Step(StepKind.UNCHANGED, "o").writes
