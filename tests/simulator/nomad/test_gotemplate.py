"""simulator.nomad.gotemplate: the Go text/template subset the job specs' templates use."""

from __future__ import annotations

from typing import Any

import pytest

from simulator.nomad.gotemplate import Template, TemplateError

FUNCS = {
    "eq": lambda a, *b: a in b,
    "upper": lambda s: s.upper(),
    "printf": lambda f, *a: f.replace("%s", "{}").format(*a),
}


class Items(dict[str, str]):
    def Tuples(self) -> list[dict[str, str]]:
        return [{"K": k, "V": self[k]} for k in sorted(self)]


def render(source: str, data: Any = None) -> str:
    return Template(source, FUNCS).execute(data)


class TestRender:
    def test_text_fields_and_pipes(self) -> None:
        assert render("a {{ .x }} b", {"x": 1}) == "a 1 b"
        assert render('{{ "q" | upper }}{{ upper "r" }}') == "QR"
        assert render('{{ printf "%s-%s" .a (upper .b) }}', {"a": "x", "b": "y"}) == "x-Y"
        assert render("{{ .missing }}", {}) == "<no value>"
        assert render("{{/* a comment */}}ok") == "ok"

    def test_trim_markers(self) -> None:
        assert render("a  \n {{- .x -}} \n  b", {"x": "X"}) == "aXb"
        assert render("a {{ .x }} b", {"x": "X"}) == "a X b"

    def test_if_else_if_else(self) -> None:
        source = '{{ if eq .v "a" }}A{{ else if eq .v "b" }}B{{ else }}C{{ end }}.'
        assert [render(source, {"v": v}) for v in "abc"] == ["A.", "B.", "C."]

    def test_with_sets_dot_and_skips_empty(self) -> None:
        assert render("{{ with .a }}[{{ .b }}]{{ else }}none{{ end }}", {"a": {"b": 1}}) == "[1]"
        assert render("{{ with .a }}x{{ else }}none{{ end }}", {"a": {}}) == "none"

    def test_range_over_methods_lists_and_maps(self) -> None:
        source = "{{ range .Tuples }}{{ .K }}={{ .V }};{{ end }}"
        assert render(source, Items(b="2", a="1")) == "a=1;b=2;"
        assert render("{{ range . }}{{ . }}{{ end }}", {"z": 1, "a": 2}) == "21"  # key order
        assert render("{{ range . }}x{{ else }}empty{{ end }}", []) == "empty"

    def test_a_maps_own_methods_win_over_keys(self) -> None:
        assert render("{{ .Tuples }}", Items()) == "[]"
        assert render("{{ .keys }}", {"keys": "k"}) == "k"  # a plain map: a key lookup

    @pytest.mark.parametrize(
        ("source", "message"),
        [
            ("{{ nope }}", 'function "nope" not defined'),
            ("{{ if .a }}x", "unexpected EOF"),
            ("{{ end }}", "unexpected {{end}}"),
            ("{{ $x := 1 }}", "not supported"),
            ('{{ define "x" }}{{ end }}', "not supported"),
            ("{{ (.a }}", "unclosed left paren"),
        ],
    )
    def test_parse_errors(self, source: str, message: str) -> None:
        with pytest.raises(TemplateError, match=message.replace("{", r"\{").replace("(", r"\(")):
            Template(source, FUNCS)

    def test_execution_errors(self) -> None:
        with pytest.raises(TemplateError, match="can't evaluate field x"):
            render("{{ .x }}", 3)
