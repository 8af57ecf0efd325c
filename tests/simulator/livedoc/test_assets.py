"""simulator.livedoc.assets: the vendored mermaid is the pinned file, with its licence."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from simulator.livedoc.assets import (
    MERMAID_DIR,
    MERMAID_SHA256,
    MERMAID_VERSION,
    checked_mermaid,
    sha256,
)
from simulator.livedoc.errors import LivedocError


class TestMermaidPin:
    def test_the_vendored_file_matches_the_pinned_version_and_checksum(self) -> None:
        script = checked_mermaid()
        assert sha256(script) == MERMAID_SHA256
        assert f"mermaid@{MERMAID_VERSION}" in (MERMAID_DIR / "README.md").read_text("utf-8")
        assert MERMAID_SHA256 in (MERMAID_DIR / "README.md").read_text("utf-8")

    def test_its_licence_is_kept(self) -> None:
        licence = (MERMAID_DIR / "LICENSE").read_text(encoding="utf-8")
        assert licence.startswith("The MIT License (MIT)")

    def test_an_altered_copy_is_refused(self, tmp_path: Path) -> None:
        shutil.copy(MERMAID_DIR / "LICENSE", tmp_path / "LICENSE")
        (tmp_path / "mermaid.min.js").write_text("alert(1)", encoding="utf-8")
        with pytest.raises(LivedocError, match="sha256"):
            checked_mermaid(tmp_path)

    def test_a_missing_licence_is_refused(self, tmp_path: Path) -> None:
        shutil.copy(MERMAID_DIR / "mermaid.min.js", tmp_path / "mermaid.min.js")
        with pytest.raises(LivedocError, match="LICENSE"):
            checked_mermaid(tmp_path)
