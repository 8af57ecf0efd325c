"""hashicorp/go-envparse v0.1.0, which Nomad uses to read `env = true` template files.

`KEY=value` lines; blank lines and `#` comment lines are skipped; an `export ` prefix is dropped;
unquoted values end at `#`; single quotes are literal; double quotes take JSON's escapes (so a
value rendered with `toJSON` comes back exactly). Control characters in a value are errors.
https://github.com/hashicorp/go-envparse/blob/v0.1.0/envparse.go
"""

from __future__ import annotations

_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "r": "\r", "n": "\n", "t": "\t"}
_HEX = "0123456789abcdefABCDEF"


class EnvParseError(ValueError):
    """A line go-envparse refuses; `str()` is its `error on line N: ...` text."""


def parse_env(text: str) -> dict[str, str]:
    """`envparse.Parse`: the variables of an env file, or `EnvParseError`."""
    env: dict[str, str] = {}
    for number, line in enumerate(text.split("\n"), start=1):
        try:
            parsed = parse_line(line)
        except ValueError as exc:
            raise EnvParseError(f"error on line {number}: {exc}") from exc
        if parsed is not None:
            env[parsed[0]] = parsed[1]
    return env


def _key(raw: str) -> str:
    key = raw.strip()
    if len(key) > len("export "):
        key = key.removeprefix("export ")
    if not key:
        raise ValueError("empty key")
    if not (key[0].isascii() and (key[0].isalpha() or key[0] == "_")):
        raise ValueError(f"key must start with [A-Za-z_] but found {key[0]!r}")
    for char in key[1:]:
        if not (char.isascii() and (char.isalnum() or char in "_./")):
            raise ValueError(f"key characters must be [A-Za-z0-9/_.] but found {char!r}")
    return key


def parse_line(line: str) -> tuple[str, str] | None:
    """One line: (key, value), or None for a blank or comment line."""
    line = line.strip(" \t\r\n\v\f")
    if not line or line.startswith("#"):
        return None
    if "=" not in line:
        raise ValueError("missing =")
    raw_key, _, raw_value = line.partition("=")
    key, value = _key(raw_key), raw_value.strip(" \t\r\n\v\f")
    out: list[str] = []
    last_significant = 0
    mode, i = "normal", 0
    while i < len(value):
        char = value[i]
        if ord(char) < 32:
            raise ValueError(f"0x{ord(char):02x} is an invalid value character")
        if mode == "normal":
            if char == '"':
                mode = "double"
            elif char == "'":
                mode = "single"
            elif char == "#":
                return key, "".join(out[:last_significant])
            else:
                out.append(char)
                if char not in " \t":
                    last_significant = len(out)
        elif mode == "single":
            if char == "'":
                mode = "normal"
            else:
                out.append(char)
                last_significant = len(out)
        elif mode == "double":
            if char == '"':
                mode = "normal"
            elif char == "\\":
                mode = "escape"
            else:
                out.append(char)
                last_significant = len(out)
        else:  # escape, inside double quotes
            if not char.isascii():
                raise ValueError("multibyte characters disallowed in escape sequences")
            if char == "u":
                decoded, i = _unicode(value, i)
                out.append(decoded)
            elif char in _ESCAPES:
                out.append(_ESCAPES[char])
            else:
                raise ValueError(f"invalid escape sequence: {char!r}")
            last_significant = len(out)
            mode = "double"
        i += 1
    if mode == "double":
        raise ValueError('unmatched "')
    if mode == "single":
        raise ValueError("unmatched '")
    if mode == "escape":
        raise ValueError("incomplete escape sequence")
    return key, "".join(out)


def _unicode(value: str, i: int) -> tuple[str, int]:
    """`\\uXXXX` (and a following low surrogate) at value[i] == 'u'; returns the char and index."""
    code, i = _hex4(value, i + 1), i + 4
    if 0xD800 <= code < 0xE000:
        if value[i + 1 : i + 3] != "\\u":
            raise ValueError("incomplete Unicode surrogate pair")
        low, i = _hex4(value, i + 3), i + 6
        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
    return chr(code), i


def _hex4(value: str, start: int) -> int:
    digits = value[start : start + 4]
    if len(digits) < 4:
        raise ValueError("incomplete hex sequence")
    for digit in digits:
        if digit not in _HEX:
            raise ValueError(f"invalid hex character: {digit!r}")
    return int(digits, 16)
