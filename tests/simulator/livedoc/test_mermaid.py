"""simulator.livedoc.mermaid: escaping and the banded sequence diagram."""

from __future__ import annotations

import re

from simulator.livedoc.calls import Call
from simulator.livedoc.mermaid import FAILED_COLOUR, escape, sequence_diagram


def call(caller: str, callee: str, status: int = 200, *, step: int = 0, kind: str = "act") -> Call:
    return Call(caller, callee, "POST", "/x", "", status, 0.0, 0.0, "", "", kind, step)


class TestEscape:
    def test_statement_ends_directives_and_markup_become_codes(self) -> None:
        text = 'a;b#c<script>&"%%{init}%%'
        escaped = escape(text)
        assert not re.search(r"[;#<>&%{}\"]", re.sub(r"#\d+;", "", escaped))
        assert re.sub(r"#(\d+);", lambda m: chr(int(m.group(1))), escaped) == text

    def test_newlines_become_breaks_and_long_text_is_cut(self) -> None:
        assert escape("one\ntwo\r\nthree") == "one<br>two<br>three"
        assert escape("x" * 300, limit=10) == "x" * 9 + "…"


class TestSequenceDiagram:
    def test_only_the_lanes_that_took_part_in_their_order(self) -> None:
        source = sequence_diagram([call("runner", "github"), call("rod", "nomad")], ["Given x"])
        lanes = re.findall(r"participant (\w+)", source)
        assert lanes == ["rod", "nomad", "github", "runner"]

    def test_one_band_per_step_that_ran_with_its_arrows(self) -> None:
        calls = [call("harness", "github", step=-1), call("rod", "nomad", step=0)]
        calls += [call("rod", "github", step=2), call("runner", "github", step=3)]
        source = sequence_diagram(calls, ["Given a", None, "Then c"])
        notes = re.findall(r"Note over harness,runner: (.*)", source)
        assert notes == [
            "Before the first step: the harness sets the stage",
            "Given a",
            "Then c",
            "After the last step: until the runners are gone",
        ]
        assert source.count("  rect ") == source.count("\n  end") == 4
        assert len(re.findall(r"->>", source)) == 4

    def test_reads_are_counted_not_drawn(self) -> None:
        calls = [call("harness", "github", kind="check") for _ in range(3)]
        source = sequence_diagram([*calls, call("rod", "github")], ["When y"])
        assert "Note over harness: 3 reads to check" in source
        assert source.count("->>") == 1

    def test_the_failed_step_is_red_with_its_error_and_error_answers_crossed(self) -> None:
        calls = [call("rod", "nomad", 503, step=1), call("rod", "nomad", 500, step=0)]
        source = sequence_diagram(
            calls, ["Given a", "When b"], failed_step=1, error="Boom; it broke\ndetail"
        )
        assert f"rect {FAILED_COLOUR}" in source
        assert "✗ step failed: Boom#59; it broke" in source
        assert "rod-xnomad: ✗ POST /x · 503" in source
        assert "rod-xnomad: POST /x · 500" in source  # an error answer outside the failed step
        assert "After the last step\n" not in source  # no tail band without calls

    def test_an_unsent_delivery_is_a_note(self) -> None:
        unsent = Call(
            "webhooks", "rod", "POST", "/webhook", "", 0, 0, 0, "", "dropped", "unsent", 0
        )
        source = sequence_diagram([unsent], ["Given a"])
        assert "Note over webhooks: ✗ POST /webhook · not sent<br>dropped" in source
        assert "->>" not in source and "-x" not in source
