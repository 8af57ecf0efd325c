"""simulator.nomad.filter: the go-bexpr subset."""

from __future__ import annotations

import pytest

from simulator.nomad.filter import FilterError, compile_filter

JOBS = [
    {"ID": "a", "ParentID": "sim", "Status": "running"},
    {"ID": "b", "ParentID": "sim", "Status": "dead"},
    {"ID": "c", "ParentID": "", "Status": "running"},
]


def ids(expr: str) -> list[str]:
    predicate = compile_filter(expr)
    return [j["ID"] for j in JOBS if predicate(j)]


class TestCompileFilter:
    def test_equals(self) -> None:
        assert ids('ParentID == "sim"') == ["a", "b"]

    def test_not_equals(self) -> None:
        assert ids('Status != "dead"') == ["a", "c"]

    def test_and_or_parentheses(self) -> None:
        assert ids('ParentID == "sim" and Status == "running"') == ["a"]
        assert ids('ID == "c" or Status == "dead"') == ["b", "c"]
        assert ids('(ID == "a" or ID == "c") and Status == "running"') == ["a", "c"]

    def test_escaped_quote(self) -> None:
        assert compile_filter(r'ID == "x\"y"')({"ID": 'x"y'})

    @pytest.mark.parametrize("expr", ["ParentID == sim", 'ParentID ~ "x"', 'ID == "a" and', "("])
    def test_malformed(self, expr: str) -> None:
        with pytest.raises(FilterError):
            compile_filter(expr)
