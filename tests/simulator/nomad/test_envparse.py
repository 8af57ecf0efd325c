"""simulator.nomad.envparse: go-envparse v0.1.0, how Nomad reads `env = true` templates."""

from __future__ import annotations

import json

import pytest

from simulator.nomad.envparse import EnvParseError, parse_env


class TestParseEnv:
    def test_lines_comments_and_export(self) -> None:
        text = "# c\n\nA=1\nexport B = two words  # trailing\nC='x # y'\nD=\n"
        assert parse_env(text) == {"A": "1", "B": "two words", "C": "x # y", "D": ""}

    @pytest.mark.parametrize(
        "value",
        [
            "p#ss",
            'q"uote',
            "new\nline",
            "back\\slash",
            "tab\there",
            "<&>",
            "ünï\u2028",
            "\U0001f511",
        ],
    )
    def test_a_json_quoted_value_comes_back_exactly(self, value: str) -> None:
        assert parse_env(f"K={json.dumps(value)}\n") == {"K": value}
        assert parse_env(f"K={json.dumps(value, ensure_ascii=False)}\n") == {"K": value}

    def test_raw_values_break_as_in_nomad(self) -> None:
        assert parse_env("K=p#ss\n") == {"K": "p"}  # an unquoted `#` starts a comment
        with pytest.raises(EnvParseError, match="error on line 2: missing ="):
            parse_env("K=new\nline\n")
        with pytest.raises(EnvParseError, match='error on line 1: unmatched "'):
            parse_env('K=q"uote\n')

    @pytest.mark.parametrize(
        ("line", "message"),
        [
            ("=x", "empty key"),
            ("1A=x", "key must start with [A-Za-z_]"),
            ("A-B=x", "key characters must be"),
            ('A="\\q"', "invalid escape sequence"),
            ('A="\\u12"', "incomplete hex sequence"),
            ('A="\\ud83d"', "incomplete Unicode surrogate pair"),
            ("A='x", "unmatched '"),
        ],
    )
    def test_errors(self, line: str, message: str) -> None:
        with pytest.raises(EnvParseError, match=message.replace("[", r"\[")):
            parse_env(line)
