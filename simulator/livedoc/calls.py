"""Recorded calls as the site shows them: who called whom, during which step, drawn or counted.

A call's caller comes from a real signal: the log that holds it (GitHub's deliveries log for
webhooks, the harness's tape for calls to `rod serve`), the control-plane flag, else its
User-Agent. The harness's own reads (GETs while a step waits for something) are `check`s: the
diagram counts them in one note per step instead of drawing each; every other call is an arrow.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from simulator.livedoc.redact import redact, redact_path, redact_query

# Lanes of the sequence diagram, left to right: id -> label.
PARTICIPANTS = {
    "harness": "test harness",
    "webhooks": "GitHub webhooks",
    "rod": "rod serve",
    "nomad": "Nomad API",
    "github": "GitHub API",
    "runner": "runner",
    "other": "other caller",
}
# User-Agent prefixes: the acceptance harness (simulator/harness/github_client.py), the
# dispatcher's GitHub and Nomad ports, the fake runner (simulator/runner/client.py), GitHub.
USER_AGENTS = (
    ("runners-on-demand-acceptance", "harness"),
    ("runners-on-demand/", "rod"),
    ("rod-sim-runner/", "runner"),
    ("GitHub-Hookshot/", "webhooks"),
)
REPO_PART = re.compile(r"(^|/_sim)/repos/[^/]+/[^/]+")
LONG_ID = re.compile(r"\b([0-9a-f]{8})[0-9a-f]{16,}\b")
DISPATCHED_ID = re.compile(r"/dispatch-\d+-([0-9a-f]+)")  # Nomad's `<parent>/dispatch-<unix>-<hex>`
READS = ("GET", "HEAD")


@dataclass(frozen=True)
class Call:
    """One recorded HTTP call, placed in a step band (`step` -1: before the first step)."""

    caller: str
    callee: str
    method: str
    path: str
    query: str
    status: int
    started: float  # seconds since the scenario began
    duration: float
    user_agent: str
    detail: str
    kind: str  # "act" (an arrow), "check" (a harness read, counted) or "unsent" (a note)
    step: int
    number: int | None = None  # the arrow's number in the diagram

    @property
    def failed(self) -> bool:
        """No answer, or a 4xx/5xx one."""
        return self.status == 0 or self.status >= 400

    @property
    def short_path(self) -> str:
        """The path with `/repos/{owner}/{repo}` as `/…`, long IDs cut, for the diagram."""
        path = DISPATCHED_ID.sub(r"/dispatch-…\1", REPO_PART.sub(r"\1/…", self.path))
        return LONG_ID.sub(r"\1…", path)

    @property
    def status_text(self) -> str:
        """The status code, or what happened instead of an answer."""
        if self.kind == "unsent":
            return "not sent"
        return str(self.status) if self.status else "no answer"

    def label(self) -> str:
        """The arrow's text: request and status, then what the call carried, a line per part."""
        parts = [p for p in self.detail.split(" · ") if p]
        return "\n".join([f"{self.method} {self.short_path} · {self.status_text}", *parts])


def caller_of(raw: Mapping[str, Any]) -> str:
    """Who made a recorded call (see the module docstring for the signals used)."""
    if raw["source"] == "webhooks":
        return "webhooks"
    if raw["source"] == "harness" or raw.get("control"):
        return "harness"
    agent = str(raw.get("user_agent") or "")
    return next((who for prefix, who in USER_AGENTS if agent.startswith(prefix)), "other")


def step_of(started: float, marks: Sequence[tuple[float | None, float | None]]) -> int:
    """Index of the step during which a call began; -1 before the first, len after the last.

    A call between two steps (in behave's hooks) belongs to the one before.
    """
    ran = [(n, began, ended) for n, (began, ended) in enumerate(marks) if began is not None]
    if not ran or started < ran[0][1]:
        return -1
    last_ended = ran[-1][2]
    if last_ended is not None and started > last_ended:
        return len(marks)
    return max(n for n, began, _ in ran if began <= started)


def build_calls(
    raws: Sequence[Mapping[str, Any]],
    marks: Sequence[tuple[float | None, float | None]],
    begun: float,
) -> list[Call]:
    """Recorded calls, oldest first, classified and placed; arrows numbered 1, 2, ..."""
    calls: list[Call] = []
    number = 0
    for raw in sorted(raws, key=lambda r: float(r["started"])):
        caller = caller_of(raw)
        started = float(raw["started"])
        if not raw.get("sent", True):
            kind = "unsent"
        elif caller == "harness" and raw["method"] in READS:
            kind = "check"
        else:
            kind = "act"
        if kind == "act":
            number += 1
        calls.append(
            Call(
                caller=caller,
                callee=str(raw["to"]),
                method=str(raw["method"]),
                path=redact_path(str(raw["path"])),
                query=redact_query(str(raw.get("query") or "")),
                status=int(raw["status"]),
                started=max(0.0, started - begun),
                duration=max(0.0, float(raw["ended"]) - started),
                user_agent=redact(str(raw.get("user_agent") or "")),
                detail=redact(str(raw.get("detail") or "")),
                kind=kind,
                step=step_of(started, marks),
                number=number if kind == "act" else None,
            )
        )
    return calls


def checks_summary(calls: Sequence[Call], step: int) -> list[str]:
    """The harness's reads during one step, grouped: `12 x GET /…/actions/runners (200)`."""
    groups = Counter(
        (c.method, c.short_path, c.status_text)
        for c in calls
        if c.kind == "check" and c.step == step
    )
    return [
        f"{count} \u00d7 {method} {path} ({status})"
        for (method, path, status), count in groups.most_common()
    ]
