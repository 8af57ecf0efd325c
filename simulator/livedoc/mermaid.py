"""A scenario's observed calls as a mermaid sequence diagram, one band (`rect`) per step.

Mermaid syntax: https://mermaid.js.org/syntax/sequenceDiagram.html. Labels are escaped with
mermaid's entity codes (`#59;` for `;`, ...), so no recorded text can end a statement, open a
directive (`%%{...}%%`) or become markup; the page renders with `securityLevel: "strict"`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from simulator.livedoc.calls import PARTICIPANTS, Call

# Characters that mean something to mermaid's parser or to HTML, as mermaid entity codes.
_CODES = {c: f"#{ord(c)};" for c in "#;<>&\"'%{}`\\|"}
_SPECIAL = re.compile("|".join(re.escape(c) for c in _CODES) + r"|\r\n|\r|\n")
MAX_LABEL = 160

BAND_COLOURS = ("rgba(66, 133, 244, 0.07)", "rgba(52, 168, 83, 0.07)")
SETUP_COLOUR = "rgba(128, 128, 128, 0.08)"
FAILED_COLOUR = "rgba(220, 53, 69, 0.16)"


def escape(text: str, limit: int = MAX_LABEL) -> str:
    """Text safe as a mermaid label: special characters coded, newlines as `<br>`, shortened."""
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return _SPECIAL.sub(lambda m: _CODES.get(m.group(), "<br>"), text)


def band_titles(steps: Sequence[str | None], passed: bool) -> dict[int, str]:
    """Band index -> title: -1 before the first step, each step that ran, then after the last."""
    titles = {-1: "Before the first step: the harness sets the stage"}
    titles.update((n, step) for n, step in enumerate(steps) if step is not None)
    titles[len(steps)] = (
        "After the last step: until the runners are gone" if passed else "After the last step"
    )
    return titles


def sequence_diagram(
    calls: Sequence[Call],
    steps: Sequence[str | None],
    *,
    failed_step: int | None = None,
    error: str = "",
) -> str:
    """The diagram's source; `steps` are the steps' texts (None: did not run), `failed_step` the
    band to mark, with the first line of `error`."""
    lanes = [p for p in PARTICIPANTS if any(p in (c.caller, c.callee) for c in calls)]
    lanes = lanes or ["harness", "rod"]
    span = f"{lanes[0]},{lanes[-1]}" if len(lanes) > 1 else lanes[0]
    lines = ["sequenceDiagram", "  autonumber"]
    lines += [f"  participant {lane} as {PARTICIPANTS[lane]}" for lane in lanes]
    titles = band_titles(steps, passed=failed_step is None)
    for band, title in titles.items():
        in_band = [c for c in calls if c.step == band]
        if not in_band and band in (-1, len(steps)):
            continue
        failing = band == failed_step
        colour = FAILED_COLOUR if failing else SETUP_COLOUR if band == -1 else None
        colour = colour or BAND_COLOURS[band % 2]
        lines.append(f"  rect {colour}")
        lines.append(f"    Note over {span}: {escape(title)}")
        lines += [_statement(call, failing) for call in in_band if call.kind != "check"]
        checks = sum(c.kind == "check" for c in in_band)
        if checks:
            reads = "1 read" if checks == 1 else f"{checks} reads"
            lines.append(f"    Note over harness: {reads} to check")
        if failing:
            first = error.strip().splitlines()[0] if error.strip() else "failed"
            lines.append(f"    Note over {span}: ✗ step failed: {escape(first)}")
        lines.append("  end")
    return "\n".join(lines) + "\n"


def _statement(call: Call, failing: bool) -> str:
    """One arrow (`-x` for a call that got an error or no answer), or a note for an unsent one."""
    if call.kind == "unsent":
        return f"    Note over {call.caller}: ✗ {escape(call.label())}"
    mark = "✗ " if failing and call.failed else ""
    arrow = "-x" if call.failed else "->>"
    return f"    {call.caller}{arrow}{call.callee}: {mark}{escape(call.label())}"
