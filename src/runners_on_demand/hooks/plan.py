"""The plan of `rod hooks sync`: what was listed in, one step per hook to make or touch out. Pure.

The hook `rod` wants is `HookSpec`: active, JSON, signed with the secret, for `workflow_job` only,
at the dispatcher's URL. GitHub never shows a secret (a set one reads back "********",
https://docs.github.com/rest/repos/webhooks#get-a-repository-webhook), so a hook is recognised
by its URL and events:
- **ours**: the dispatcher's URL and exactly the events `["workflow_job"]`, the shape `rod hooks
  sync` (and the README's curl line) makes. It is `unchanged`, or `update`d when it is inactive,
  not JSON, verifies TLS differently, has no secret, or when asked to set the secret again.
- **not ours**: the dispatcher's URL with other events too (made by hand): left alone. When it
  already sends `workflow_job` no hook is created beside it (GitHub would refuse the same URL
  with overlapping events).
- hooks to other URLs are nobody's business here and are not listed.
`--prune` deletes our hooks from the targets no longer selected, and never another hook.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["HookSpec", "ListedHook", "Step", "StepKind", "hook_from_rest", "plan_sync"]

EVENT = "workflow_job"


@dataclass(frozen=True)
class HookSpec:
    """The hook `rod serve` needs: where, which event, JSON, TLS verified."""

    url: str
    events: tuple[str, ...] = (EVENT,)
    content_type: str = "json"
    insecure_ssl: str = "0"

    def body(self, secret: str, *, org: bool) -> dict[str, Any]:
        """The POST (or full PATCH) body; a PATCH without the secret would remove it."""
        # https://docs.github.com/rest/repos/webhooks#create-a-repository-webhook
        # https://docs.github.com/rest/orgs/webhooks#create-an-organization-webhook ("name": "web")
        config = {
            "url": self.url,
            "content_type": self.content_type,
            "secret": secret,
            "insecure_ssl": self.insecure_ssl,
        }
        body: dict[str, Any] = {"active": True, "events": list(self.events), "config": config}
        return {"name": "web", **body} if org else body


@dataclass(frozen=True)
class ListedHook:
    """A hook as `GET .../hooks` lists it (the secret only as set or not)."""

    id: int
    url: str
    events: tuple[str, ...]
    active: bool = True
    content_type: str = "form"
    insecure_ssl: str = "0"
    has_secret: bool = False


def hook_from_rest(hook: Mapping[str, Any]) -> ListedHook | None:
    """A listed hook; None if unusable."""
    try:
        config = hook.get("config") or {}
        return ListedHook(
            id=int(hook["id"]),
            url=str(config.get("url", "")),
            events=tuple(str(event) for event in hook.get("events") or ()),
            active=bool(hook.get("active", False)),
            content_type=str(config.get("content_type") or "form"),
            insecure_ssl=str(config.get("insecure_ssl", "0")),
            has_secret=bool(config.get("secret")),
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


class StepKind(enum.StrEnum):
    """What the plan does with one target's hook."""

    CREATE = "create"
    UPDATE = "update"
    UNCHANGED = "unchanged"
    NOT_OURS = "not ours"
    PRUNE = "prune"


@dataclass(frozen=True)
class Step:
    """One step: `target` is owner/repo, or an organization's login for an org hook."""

    kind: StepKind
    target: str
    hook_id: int | None = None
    why: str = ""

    @property
    def writes(self) -> bool:
        """Whether carrying the step out changes anything on GitHub."""
        return self.kind in (StepKind.CREATE, StepKind.UPDATE, StepKind.PRUNE)

    def __str__(self) -> str:
        hook = f" (hook {self.hook_id})" if self.hook_id is not None else ""
        why = f": {self.why}" if self.why else ""
        return f"{self.kind:<9} {self.target}{hook}{why}"


@dataclass
class _Look:
    """How one target's hooks stand against the spec."""

    ours: list[ListedHook] = field(default_factory=list)
    foreign: list[ListedHook] = field(default_factory=list)


def _look(hooks: Iterable[ListedHook], spec: HookSpec) -> _Look:
    look = _Look()
    for hook in hooks:
        if hook.url.rstrip("/") != spec.url.rstrip("/"):
            continue
        (look.ours if set(hook.events) == set(spec.events) else look.foreign).append(hook)
    return look


def _differences(hook: ListedHook, spec: HookSpec, reset_secret: bool) -> list[str]:
    """Why our hook needs an update, for people; empty when it is as it should be."""
    found = []
    if not hook.active:
        found.append("inactive")
    if hook.content_type != spec.content_type:
        found.append(f"content type {hook.content_type}")
    if hook.insecure_ssl != spec.insecure_ssl:
        found.append(f"insecure_ssl {hook.insecure_ssl}")
    if not hook.has_secret:
        found.append("no secret")
    elif reset_secret:
        found.append("secret set again")
    return found


def plan_sync(
    selected: Mapping[str, Sequence[ListedHook]],
    others: Mapping[str, Sequence[ListedHook]],
    spec: HookSpec,
    *,
    prune: bool = False,
    reset_secret: bool = False,
) -> list[Step]:
    """One or more steps per selected target, and prunes among `others` when asked."""
    steps: list[Step] = []
    for target, hooks in sorted(selected.items()):
        look = _look(hooks, spec)
        for hook in look.foreign:
            events = ", ".join(hook.events) or "none"
            steps.append(Step(StepKind.NOT_OURS, target, hook.id, f"events {events}; left alone"))
        if not look.ours:
            delivers = any(EVENT in hook.events or "*" in hook.events for hook in look.foreign)
            if not delivers:
                steps.append(Step(StepKind.CREATE, target))
            continue
        # GitHub refuses a second hook with the same URL and events, so there is one of ours.
        hook = look.ours[0]
        why = _differences(hook, spec, reset_secret)
        kind = StepKind.UPDATE if why else StepKind.UNCHANGED
        steps.append(Step(kind, target, hook.id, ", ".join(why)))
    if prune:
        for target, hooks in sorted(others.items()):
            for hook in _look(hooks, spec).ours:
                steps.append(Step(StepKind.PRUNE, target, hook.id, "no longer selected"))
    return steps
