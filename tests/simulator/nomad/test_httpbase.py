"""simulator.nomad.httpbase: what the handlers share (here: Go's base64 for []byte fields)."""

from __future__ import annotations

import pytest

from simulator.nomad.httpbase import go_base64


class TestGoBase64:
    @pytest.mark.parametrize(
        ("text", "decoded"),
        [("", b""), ("QQ==", b"A"), ("QUI=", b"AB"), ("QUJD", b"ABC"), ("QU\r\nJD\n", b"ABC")],
    )
    def test_standard_base64_skipping_cr_and_lf(self, text: str, decoded: bytes) -> None:
        assert go_base64(text) == decoded

    @pytest.mark.parametrize(
        ("text", "byte"),
        [
            ("***", 0),  # not in the alphabet
            ("aGVsbG8", 4),  # an unfinished quantum: where it began
            ("QQ=", 3),  # "==" cut short: the end
            ("QQ=x", 2),  # "=" not followed by "="
            ("Q===", 1),  # padding too early
            ("QQ==QQ==", 4),  # something after the padding
            ("QUJD-_", 4),  # URL-safe characters are not standard base64
        ],
    )
    def test_gos_offset_of_the_first_bad_byte(self, text: str, byte: int) -> None:
        # encoding/base64 CorruptInputError.Error(), as encoding/json reports it
        with pytest.raises(ValueError, match=f"^illegal base64 data at input byte {byte}$"):
            go_base64(text)
