"""Write the static site: index, one page per feature, endpoint coverage, assets and the data.

Every link is relative and every script is a local file, so the site opens from `file://` with
no network. Pages are rendered by Jinja2 with autoescaping; diagram sources are escaped for
mermaid first (mermaid.py), then for HTML.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from simulator.livedoc.assets import MERMAID_VERSION, copy_assets
from simulator.livedoc.calls import PARTICIPANTS, checks_summary
from simulator.livedoc.endpoints import SERVICES, coverage, emulated_endpoints, endpoint_for
from simulator.livedoc.errors import LivedocError
from simulator.livedoc.mermaid import sequence_diagram
from simulator.livedoc.model import RunDoc, ScenarioDoc

MARKER = ".livedoc"  # marks a directory this module wrote, so a rebuild may empty it
SERVICE_NOTES = {
    "nomad": "Nomad's own calls are not shown: this backend's Nomad keeps no request log.",
    "github": "GitHub's calls are not shown: no GitHub emulator answered /_sim/requests.",
    "webhooks": "Webhook deliveries are not shown: no GitHub emulator answered /_sim/state.",
}


def seconds(value: float) -> str:
    """`0.042 s`, `3.4 s`, `2 min 5 s`."""
    if value < 1:
        return f"{value:.3f} s"
    if value < 60:
        return f"{value:.1f} s"
    return f"{int(value // 60)} min {round(value % 60)} s"


def title(scenario: ScenarioDoc) -> str:
    """A scenario's name without behave's `-- @1.1 Examples` suffix for outline rows."""
    return scenario.name.split(" -- @")[0].strip()


STORY_LINE = ("As a", "As an", "I want", "So that", "In order")


def paragraphs(lines: list[str]) -> list[tuple[str, bool]]:
    """A feature's description as (text, is a user-story line): wrapped lines joined again."""
    out: list[tuple[str, bool]] = []
    joinable = False  # the last line was prose, so this one continues its paragraph
    for line in (raw.strip() for raw in lines):
        story = line.startswith(STORY_LINE)
        if line and joinable and not story:
            out[-1] = (f"{out[-1][0]} {line}", False)
        elif line:
            out.append((line, story))
        joinable = bool(line) and not story
    return out


def step_label(scenario: ScenarioDoc, index: int) -> str:
    """The band a call fell in, for the call table."""
    if index < 0:
        return "before the first step"
    if index >= len(scenario.steps):
        return "after the last step"
    return scenario.steps[index].text


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("simulator.livedoc", "templates"),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["css"] = lambda status: str(status).replace(" ", "-")
    env.filters["seconds"] = seconds
    env.filters["title"] = title
    env.filters["paragraphs"] = paragraphs
    env.globals.update(
        participants=PARTICIPANTS,
        step_label=step_label,
        checks_summary=checks_summary,
        services=SERVICES,
        mermaid_version=MERMAID_VERSION,
    )
    return env


def diagram(scenario: ScenarioDoc) -> str:
    """The scenario's sequence diagram source."""
    failed = scenario.failed_step
    return sequence_diagram(
        scenario.calls,
        [s.text if s.status not in ("not run", "skipped") else None for s in scenario.steps],
        failed_step=failed,
        error=scenario.steps[failed].error if failed is not None else "",
    )


def _run_line(run: RunDoc) -> str:
    if not run.recorded:
        return "No acceptance run recorded yet: the stories are listed, nothing ran."
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(run.started or 0))
    return f"Acceptance run of {when}, backend {run.backend}."


def _observed_note(run: RunDoc) -> str:
    return " ".join(SERVICE_NOTES[s] for s, seen in sorted(run.observed.items()) if not seen)


def _prepare(out: Path) -> None:
    """Empty `out` if an earlier build wrote it; refuse a non-empty directory that is not ours."""
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).exists():
            raise LivedocError(f"{out} is not empty and not a living documentation build")
        shutil.rmtree(out)
    (out / "features").mkdir(parents=True)
    (out / MARKER).write_text("written by python -m simulator.livedoc\n", encoding="utf-8")


def build_site(run: RunDoc, out: Path) -> Path:
    """Write the site for `run` into `out`; returns the index page."""
    _prepare(out)
    env = _environment()
    common = {"run": run, "run_line": _run_line(run), "observed_note": _observed_note(run)}

    def write(page: str, template: str, root: str, **context: Any) -> None:
        html = env.get_template(template).render(root=root, **common, **context)
        (out / page).write_text(html, encoding="utf-8")

    total = sum(f.duration for f in run.features)
    write("index.html", "index.html", "", title="User stories", diagrams=0, total_duration=total)
    for feature in run.features:
        drawn = {s.anchor: diagram(s) for s in feature.scenarios if s.calls}
        write(
            f"features/{feature.slug}.html",
            "feature.html",
            "../",
            title=feature.name,
            feature=feature,
            sources=drawn,
            diagrams=len(drawn),
        )
    _write_endpoints(run, write)
    copy_assets(out / "assets")
    (out / "data").mkdir()
    data = json.dumps(dataclasses.asdict(run), indent=1)
    (out / "data" / "run.json").write_text(data, encoding="utf-8")
    return out / "index.html"


def _write_endpoints(run: RunDoc, write: Any) -> None:
    endpoints = emulated_endpoints()
    scenarios = [
        (f"features/{f.slug}.html#{s.anchor}", title(s), s.calls)
        for f in run.features
        for s in f.scenarios
        if s.calls
    ]
    usage, unmatched = coverage(endpoints, scenarios)
    by_scenario = []
    for link, name, calls in scenarios:
        routes = []
        for call in calls:
            endpoint = endpoint_for(endpoints, call)
            route = endpoint and f"{call.method} {endpoint.path}"
            if route and route not in routes:
                routes.append(route)
        by_scenario.append((link, name, routes))
    write(
        "endpoints.html",
        "endpoints.html",
        "",
        title="Endpoint coverage",
        diagrams=0,
        usage=usage,
        untouched=[u for u in usage if not u.calls],
        by_scenario=by_scenario,
        unmatched=unmatched,
    )
