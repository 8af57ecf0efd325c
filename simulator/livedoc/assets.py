"""The site's static files: its own stylesheet and script, and the vendored, pinned mermaid."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from simulator.livedoc.errors import LivedocError

HERE = Path(__file__).resolve().parent
MERMAID_DIR = HERE.parents[1] / "vendor" / "mermaid"
# npm `mermaid@11.17.2`, dist/mermaid.min.js (vendor/mermaid/README.md).
MERMAID_VERSION = "11.17.2"
MERMAID_SHA256 = "581ed7d74bd9048d0e3a91363927d72ef22942d7722546b27f7cc29e35390eb8"
OWN_ASSETS = ("style.css", "livedoc.js")


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def checked_mermaid(directory: Path = MERMAID_DIR) -> Path:
    """The vendored mermaid.min.js, after checking it is the pinned file."""
    script = directory / "mermaid.min.js"
    if not script.is_file() or not (directory / "LICENSE").is_file():
        raise LivedocError(f"{directory}: mermaid.min.js or its LICENSE is missing")
    if sha256(script) != MERMAID_SHA256:
        raise LivedocError(
            f"{script} is not mermaid {MERMAID_VERSION} (sha256 differs from the pin)"
        )
    return script


def copy_assets(target: Path) -> None:
    """Stylesheet, script, mermaid and its licence into `target` (the site's assets/)."""
    target.mkdir(parents=True, exist_ok=True)
    for name in OWN_ASSETS:
        shutil.copyfile(HERE / "static" / name, target / name)
    script = checked_mermaid()
    shutil.copyfile(script, target / "mermaid.min.js")
    shutil.copyfile(script.with_name("LICENSE"), target / "mermaid.LICENSE.txt")
