"""simulator.livedoc.model: feature files joined with a recording; why a story did not run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from simulator.livedoc.model import load_run, slug

FEATURE = """\
@wip
Feature: Not yet
  Scenario Outline: Row <n>
    Given step <n>

    Examples:
      | n |
      | 1 |
      | 2 |
"""


def write(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def features(tmp_path: Path) -> Path:
    folder = tmp_path / "features"
    (folder / "extra").mkdir(parents=True)
    (folder / "extra" / "later.feature").write_text(FEATURE, encoding="utf-8")
    (folder / "top.feature").write_text(FEATURE.replace("@wip\n", ""), encoding="utf-8")
    return folder


class TestLoadRun:
    def test_stories_at_the_top_come_first(self, tmp_path: Path) -> None:
        run = load_run(tmp_path / "none.jsonl", features(tmp_path))
        assert [f.location for f in run.features] == [
            "features/top.feature",
            "features/extra/later.feature",
        ]
        assert not run.recorded

    def test_outline_rows_are_joined_on_their_line(self, tmp_path: Path) -> None:
        row = {
            "kind": "scenario",
            "location": "features/top.feature:7",
            "name": "Row 1 -- @1.1 ",
            "status": "passed",
            "duration": 0.25,
            "steps": [{"keyword": "Given", "name": "step 1", "status": "passed", "duration": 0.25}],
            "calls": [],
        }
        run_record = {"kind": "run", "backend": "sim", "started": 1.0, "paths": ["features"]}
        records = write(tmp_path / "r.jsonl", [run_record, row])
        run = load_run(records, features(tmp_path))
        top = run.features[0]
        first, second = top.scenarios
        assert (first.status, first.duration, first.row) == ("passed", 0.25, {"n": "1"})
        assert (second.status, second.row) == ("not run", {"n": "2"})
        assert top.counts == {"passed": 1, "failed": 0, "skipped": 0, "not run": 1}
        assert top.status == "passed"

    def test_a_feature_excluded_by_the_run_s_tags_says_so(self, tmp_path: Path) -> None:
        run_record = {"kind": "run", "started": 1.0, "tag_expression": "not ( wip or xfail )"}
        run = load_run(write(tmp_path / "r.jsonl", [run_record]), features(tmp_path))
        later = run.features[1]
        assert later.reason == "excluded by the run's tag expression: not ( wip or xfail )"
        assert later.status == "not run"

    def test_a_feature_outside_the_run_s_paths_says_so(self, tmp_path: Path) -> None:
        run_record = {"kind": "run", "started": 1.0, "paths": ["features/top.feature"]}
        run = load_run(write(tmp_path / "r.jsonl", [run_record]), features(tmp_path))
        assert run.features[1].reason == "not in this run: behave was given features/top.feature"

    def test_a_skipped_feature_gives_its_reason(self, tmp_path: Path) -> None:
        skipped = {
            "kind": "feature",
            "location": "features/top.feature",
            "status": "skipped",
            "skip_reason": "needs -D backend=sim, not compose",
        }
        run = load_run(
            write(tmp_path / "r.jsonl", [{"kind": "run", "started": 1.0}, skipped]),
            features(tmp_path),
        )
        assert run.features[0].reason == "needs -D backend=sim, not compose"


def test_slug() -> None:
    assert slug("features/reliability/nomad_outage.feature") == "reliability-nomad-outage"
