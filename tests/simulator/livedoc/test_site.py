"""simulator.livedoc.site: the built site's structure, read without a browser.

Each check runs on the fixture site and, under `make docs-check`, on the real run's site.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from behave.parser import parse_file

from simulator.livedoc.errors import LivedocError
from simulator.livedoc.model import STATUSES, load_run, slug, status_of
from simulator.livedoc.site import build_site, paragraphs, seconds

from .conftest import HOSTILE, PLANTED, Site
from .pages import Page, pages

ARROW = re.compile(r"^\s+(\w+)(->>|-x)(\w+): (.*)$")
READS = re.compile(r"Note over harness: (\d+) reads? to check$")
UNSENT = re.compile(r"^\s+Note over webhooks: ✗ ")
CODE = re.compile(r"#(\d+);")


def scenario_records(site: Site) -> dict[str, dict]:
    return {r["location"]: r for r in site.records if r["kind"] == "scenario"}


def section_id(location: str) -> tuple[str, str]:
    """`features/x.feature:10` -> (`features/x.html`, `line-10`)."""
    path, line = location.rsplit(":", 1)
    return f"features/{slug(path)}.html", f"line-{line}"


class TestIndex:
    def test_every_feature_file_is_a_story_on_the_index(self, built_site: Site) -> None:
        index = Page(built_site.root / "index.html")
        for path in built_site.features.rglob("*.feature"):
            feature = parse_file(str(path))
            target = (
                f"features/{slug(path.relative_to(built_site.features.parent).as_posix())}.html"
            )
            assert target in index.links, f"{path} is not linked from the index"
            assert feature.name in index.text

    def test_features_that_did_not_run_say_why(self, fixture_site: Site) -> None:
        text = Page(fixture_site.root / "index.html").text
        # The sample holds three of the features; the others never ran in it.
        assert "not run: the acceptance run ended before this feature" in text
        assert "needs -D backend=sim, not compose" in text

    def test_user_story_lines_are_kept_apart_and_wrapped_lines_joined(self) -> None:
        lines = [
            "As a po' boy",
            "I want runners",
            "So that I pay less",
            "One",
            "paragraph.",
            "",
            "Two.",
        ]
        assert paragraphs(lines) == [
            ("As a po' boy", True),
            ("I want runners", True),
            ("So that I pay less", True),
            ("One paragraph.", False),
            ("Two.", False),
        ]


class TestScenarios:
    def test_statuses_and_durations_are_the_recorded_ones(self, built_site: Site) -> None:
        site = pages(built_site.root)
        for location, record in scenario_records(built_site).items():
            page_name, anchor = section_id(location)
            page = site[page_name]
            assert anchor in page.ids, f"{location} has no section"
            status = status_of(record["status"])
            status = status if status in STATUSES else "failed"  # error, hook_error, ...
            assert status.replace(" ", "-") in page.sections[anchor].split()
            html = page.path.read_text(encoding="utf-8")
            section = html[html.index(f'id="{anchor}"') :]
            head = section[: section.index("</h3>")]
            assert f'<span class="muted">{seconds(float(record["duration"]))}</span>' in head

    def test_a_failed_step_shows_its_error_and_the_steps_after_it(self, fixture_site: Site) -> None:
        page = Page(fixture_site.root / "features" / "hostile.html")
        assert "failed" in page.sections["line-6"].split()
        assert "Assertion Failed: dispatch refused" in page.text
        assert "nothing else runs" in page.text  # the skipped step is listed

    def test_every_recorded_call_is_an_arrow_a_counted_read_or_a_note(
        self, built_site: Site
    ) -> None:
        site = pages(built_site.root)
        diagrams = {(p, d.section): d for p, page in site.items() for d in page.diagrams}
        for location, record in scenario_records(built_site).items():
            if not record["calls"]:
                continue
            diagram = diagrams[section_id(location)]
            lines = diagram.source.splitlines()
            arrows = [line for line in lines if ARROW.match(line)]
            reads = sum(int(m.group(1)) for line in lines if (m := READS.search(line)))
            unsent = sum(bool(UNSENT.match(line)) for line in lines)
            assert len(arrows) == diagram.arrows
            assert len(arrows) + reads + unsent == len(record["calls"]), location
            harness_reads = [
                c
                for c in record["calls"]
                if c["method"] == "GET"
                and (
                    c["source"] == "harness"
                    or c.get("control")
                    or c["user_agent"].startswith("runners-on-demand-acceptance")
                )
            ]
            assert reads == len(harness_reads)

    def test_the_call_table_lists_every_call(self, fixture_site: Site) -> None:
        html = (fixture_site.root / "features" / "on-demand-runner.html").read_text("utf-8")
        section = html[html.index('id="line-10"') :]
        section = section[: section.index("</section>")]
        record = scenario_records(fixture_site)["features/on_demand_runner.feature:10"]
        table = section[section.index('<table class="calls">') :]
        assert table.count("<tr class=") == len(record["calls"])
        assert "<details>" in section  # folded

    def test_the_failing_band_and_error_answers_are_marked(self, fixture_site: Site) -> None:
        (diagram,) = Page(fixture_site.root / "features" / "hostile.html").diagrams
        source = diagram.source
        assert "rect rgba(220, 53, 69, 0.16)" in source
        assert "✗ step failed: Assertion Failed" in source
        assert "rod-xnomad: ✗ POST /v1/job/github-runner/dispatch · 500" in source

    def test_outline_rows_are_scenarios_of_their_own(self, fixture_site: Site) -> None:
        page = Page(fixture_site.root / "features" / "reliability-forged-webhook.html")
        assert {"line-12", "line-13", "line-14"} <= set(page.sections)
        assert len(page.diagrams) == 3
        assert "a signature of another body" in page.text


class TestLinks:
    def test_every_link_resolves(self, built_site: Site) -> None:
        site = pages(built_site.root)
        for name, page in site.items():
            for link in page.links:
                parts = urlsplit(link)
                assert not parts.scheme and not parts.netloc, f"{name}: {link} leaves the site"
                target = (page.path.parent / parts.path).resolve() if parts.path else page.path
                assert target.exists(), f"{name}: {link} points nowhere"
                if parts.fragment and target.suffix == ".html":
                    ids = site[target.relative_to(built_site.root).as_posix()].ids
                    assert parts.fragment in ids, f"{name}: {link} has no such anchor"

    def test_no_src_or_href_reaches_the_network(self, built_site: Site) -> None:
        for path in built_site.root.rglob("*.html"):
            html = path.read_text(encoding="utf-8")
            assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.I), path


class TestHostileText:
    def test_labels_cannot_break_a_diagram_or_become_markup(self, fixture_site: Site) -> None:
        (diagram,) = Page(fixture_site.root / "features" / "hostile.html").diagrams
        for line in diagram.source.splitlines()[1:]:
            label = line.split(": ", 1)[1] if ": " in line else line
            bare = CODE.sub("", label)
            assert not re.search(r"[;#<>&%{}\"]", bare.replace("<br>", "")), line
        decoded = CODE.sub(lambda m: chr(int(m.group(1))), diagram.source)
        assert "window.__livedocPwned = 1" in decoded  # shown, as text

    def test_pages_hold_the_hostile_text_escaped(self, fixture_site: Site) -> None:
        for path in fixture_site.root.rglob("*.html"):
            html = path.read_text(encoding="utf-8")
            assert "<script>window" not in html and "<img src=x" not in html, path
        page = Page(fixture_site.root / "features" / "hostile.html")
        assert "Labels with <b>markup</b> & ; # in them" in page.text
        assert HOSTILE.split(" <img")[0] in page.text


class TestSecrets:
    def test_no_planted_credential_reaches_any_file(self, fixture_site: Site) -> None:
        for path in fixture_site.root.rglob("*"):
            if path.is_file() and path.name != "mermaid.min.js":
                text = path.read_text(encoding="utf-8")
                for name, value in PLANTED.items():
                    assert value not in text, f"{path} holds the planted {name}"


class TestBuild:
    def test_a_missing_recording_lists_every_story_as_not_run(self, tmp_path: Path) -> None:
        features = Path(__file__).resolve().parents[3] / "features"
        run = load_run(tmp_path / "absent.jsonl", features)
        build_site(run, tmp_path / "site")
        text = Page(tmp_path / "site" / "index.html").text
        assert run.counts["not run"] == len(run.scenarios) > 0
        assert "no acceptance run was recorded" in text

    def test_refuses_to_empty_a_directory_it_did_not_write(self, tmp_path: Path) -> None:
        (tmp_path / "keep.txt").write_text("mine", encoding="utf-8")
        run = load_run(tmp_path / "absent.jsonl", tmp_path)
        with pytest.raises(LivedocError, match="not a living documentation build"):
            build_site(run, tmp_path)
        assert (tmp_path / "keep.txt").exists()
