"""The site's model: every feature file, joined with what the last acceptance run recorded.

Features come from behave's own parser, so a feature that did not run is still listed, with
why: the feature was skipped (its reason, e.g. `needs -D backend=sim`), the run's tag
expression excludes it, the run was given other paths, or nothing was recorded at all.
Scenarios are joined with the recording (simulator/harness/recording.py) on `file:line`, which
is also how Scenario Outline rows are told apart.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from behave.model import Feature, ScenarioOutline  # type: ignore[import-untyped]
from behave.parser import parse_file  # type: ignore[import-untyped]
from behave.tag_expression import make_tag_expression  # type: ignore[import-untyped]

from simulator.livedoc.calls import Call, build_calls
from simulator.livedoc.redact import redact

STATUSES = ("passed", "failed", "skipped", "not run")
# Step statuses that are not a failure; behave's others (failed, error, hook_error, undefined,
# pending) all fail the scenario, which the site counts as failed.
OK_STEP = ("passed", "skipped", "not run")


def status_of(behave_status: str) -> str:
    """behave's status name in the site's terms: `untested` is not run."""
    return "not run" if behave_status == "untested" else behave_status


@dataclass
class StepDoc:
    """One step as it ran (or did not)."""

    keyword: str
    name: str
    status: str
    duration: float
    error: str

    @property
    def text(self) -> str:
        """`Given there is a webhook`."""
        return f"{self.keyword} {self.name}"


@dataclass
class ScenarioDoc:
    """One scenario, or one row of a Scenario Outline."""

    anchor: str
    name: str
    location: str
    tags: list[str]
    status: str = "not run"
    duration: float = 0.0
    reason: str = ""  # why it did not run
    steps: list[StepDoc] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    outline: str = ""  # the outline's own name, for its rows
    row: dict[str, str] = field(default_factory=dict)

    @property
    def failed_step(self) -> int | None:
        """Index of the step that failed, if one did."""
        return next((n for n, s in enumerate(self.steps) if s.status not in OK_STEP), None)

    @property
    def arrows(self) -> list[Call]:
        """The calls the diagram draws."""
        return [c for c in self.calls if c.kind == "act"]


@dataclass
class SectionDoc:
    """The scenarios of a Rule (or of the feature outside any Rule)."""

    rule: str
    description: list[str]
    scenarios: list[ScenarioDoc]


@dataclass
class FeatureDoc:
    """One user story: its feature file and its scenarios."""

    slug: str
    name: str
    location: str
    description: list[str]
    tags: list[str]
    background: list[str]
    sections: list[SectionDoc]
    reason: str = ""  # why it (or part of it) did not run

    @property
    def scenarios(self) -> list[ScenarioDoc]:
        """Every scenario and outline row, in file order."""
        return [s for section in self.sections for s in section.scenarios]

    @property
    def counts(self) -> dict[str, int]:
        """Scenarios per status, every status present."""
        return counts(self.scenarios)

    @property
    def status(self) -> str:
        """failed if any scenario failed, else passed if any passed, else skipped or not run."""
        counts = self.counts
        return next((s for s in STATUSES if counts[s]), "not run")

    @property
    def duration(self) -> float:
        """Seconds its scenarios took."""
        return sum(s.duration for s in self.scenarios)


@dataclass
class RunDoc:
    """The last acceptance run, or the features alone when nothing was recorded."""

    backend: str
    started: float | None
    recorded: bool
    observed: dict[str, bool]
    features: list[FeatureDoc]

    @property
    def scenarios(self) -> list[ScenarioDoc]:
        """Every scenario of every feature."""
        return [s for f in self.features for s in f.scenarios]

    @property
    def counts(self) -> dict[str, int]:
        """Scenarios per status over the run."""
        return counts(self.scenarios)


def counts(scenarios: list[ScenarioDoc]) -> dict[str, int]:
    """How many scenarios have each status, every status present."""
    found = Counter(s.status for s in scenarios)
    return {status: found.get(status, 0) for status in STATUSES}


def slug(text: str) -> str:
    """`features/reliability/nomad_outage.feature` -> `reliability-nomad-outage`."""
    text = re.sub(r"^features/|\.feature$", "", text)
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


def read_records(path: Path) -> list[dict[str, Any]]:
    """The recording's JSON lines; none when the file is missing."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def load_run(records_path: Path, features_dir: Path) -> RunDoc:
    """Every `*.feature` under `features_dir`, joined with the recording at `records_path`."""
    records = read_records(records_path)
    run = next((r for r in records if r["kind"] == "run"), {})
    scenarios = {r["location"]: r for r in records if r["kind"] == "scenario"}
    features = {r["location"]: r for r in records if r["kind"] == "feature"}
    observed: dict[str, bool] = {}
    for record in scenarios.values():
        for service, seen in (record.get("observed") or {}).items():
            observed[service] = observed.get(service, False) or seen
    root = features_dir.resolve().parent
    docs = []
    # The article's stories (top level) first, then the folders' (reliability/...).
    for path in sorted(
        features_dir.rglob("*.feature"), key=lambda p: (p.parent != features_dir, p)
    ):
        relative = path.resolve().relative_to(root).as_posix()
        parsed = parse_file(str(path))
        if parsed is None:
            continue
        why = _not_run_reason(run, relative, parsed, features.get(relative))
        docs.append(_feature_doc(parsed, relative, scenarios, why))
    return RunDoc(
        backend=str(run.get("backend", "")),
        started=run.get("started"),
        recorded=bool(run),
        observed=observed,
        features=docs,
    )


def _not_run_reason(
    run: dict[str, Any], location: str, parsed: Feature, record: dict[str, Any] | None
) -> str:
    """Why a feature's scenarios may be missing from the run, as precisely as the record tells."""
    if not run:
        return "no acceptance run was recorded (run `make test` or `behave`, then `make docs`)"
    if record is not None:
        return str(record.get("skip_reason") or "")
    paths = [p.rstrip("/") for p in run.get("paths") or []]
    if paths and not any(location == p or location.startswith(p + "/") for p in paths):
        return f"not in this run: behave was given {', '.join(paths)}"
    expression = run.get("tag_expression") or ""
    if expression and not make_tag_expression(expression).check(parsed.tags):
        return f"excluded by the run's tag expression: {expression}"
    return "not run: the acceptance run ended before this feature"


def _feature_doc(
    parsed: Feature, location: str, records: dict[str, dict[str, Any]], reason: str
) -> FeatureDoc:
    background = (
        [f"{s.keyword} {s.name}" for s in parsed.background.steps] if parsed.background else []
    )
    sections = []
    if parsed.scenarios:
        sections.append(SectionDoc("", [], _scenarios(parsed.scenarios, records, reason, location)))
    for rule in parsed.rules:
        scenarios = _scenarios(rule.scenarios, records, reason, location)
        sections.append(SectionDoc(rule.name, list(rule.description), scenarios))
    return FeatureDoc(
        slug=slug(location),
        name=parsed.name,
        location=location,
        description=list(parsed.description),
        tags=[f"@{t}" for t in parsed.tags],
        background=background,
        sections=sections,
        reason=reason,
    )


def _scenarios(
    items: list[Any], records: dict[str, dict[str, Any]], reason: str, file: str
) -> list[ScenarioDoc]:
    docs = []
    for item in items:
        if isinstance(item, ScenarioOutline):
            for row_scenario, row in zip(item.scenarios, _rows(item), strict=True):
                doc = _scenario_doc(row_scenario, records, reason, file)
                doc.outline, doc.row = item.name, row
                docs.append(doc)
        else:
            docs.append(_scenario_doc(item, records, reason, file))
    return docs


def _rows(outline: ScenarioOutline) -> list[dict[str, str]]:
    """Each Examples row as {heading: cell}, in the order behave generates the scenarios."""
    return [
        dict(zip(example.table.headings, row.cells, strict=True))
        for example in outline.examples
        for row in example.table.rows
    ]


def _scenario_doc(
    parsed: Any, records: dict[str, dict[str, Any]], reason: str, file: str
) -> ScenarioDoc:
    location = f"{file}:{parsed.line}"  # as behave reports it, relative to the project
    doc = ScenarioDoc(
        anchor=f"line-{parsed.line}",
        name=parsed.name,
        location=location,
        tags=[f"@{t}" for t in sorted(parsed.effective_tags)],
        reason=reason or "not run",
    )
    record = records.get(location)
    if record is None:
        doc.steps = [StepDoc(s.keyword, s.name, "not run", 0.0, "") for s in parsed.all_steps]
        return doc
    status = status_of(str(record["status"]))
    doc.status = status if status in STATUSES else "failed"
    doc.duration = float(record.get("duration") or 0.0)
    doc.reason = str(record.get("skip_reason") or reason or "") if doc.status != "passed" else ""
    doc.tags = [f"@{t}" for t in record.get("tags", [])] or doc.tags
    steps = record.get("steps") or []
    doc.steps = [
        StepDoc(
            s["keyword"],
            s["name"],
            status_of(str(s["status"])),
            float(s.get("duration") or 0.0),
            redact(s.get("error") or ""),
        )
        for s in steps
    ] or [StepDoc(s.keyword, s.name, doc.status, 0.0, "") for s in parsed.all_steps]
    marks = [(s.get("started"), s.get("ended")) for s in steps]
    doc.calls = build_calls(record.get("calls") or [], marks, float(record.get("begun") or 0.0))
    return doc
