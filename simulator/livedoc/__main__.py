"""`python -m simulator.livedoc [--records F] [--features D] [--out D]`: build the site."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from simulator.livedoc.errors import LivedocError
from simulator.livedoc.model import load_run
from simulator.livedoc.site import build_site

ROOT = Path(__file__).resolve().parents[2]
# Where the site goes (a CI artifact).
SITE = ROOT / "build" / "livedoc"


def main(argv: list[str] | None = None) -> int:
    """Build the living documentation; one line on success, one line on failure (exit 1)."""
    parser = argparse.ArgumentParser(prog="python -m simulator.livedoc", description=__doc__)
    parser.add_argument("--records", type=Path, default=ROOT / "build/acceptance/livedoc.jsonl")
    parser.add_argument("--features", type=Path, default=ROOT / "features")
    parser.add_argument("--out", type=Path, default=SITE)
    args = parser.parse_args(argv)
    began = time.monotonic()
    try:
        run = load_run(args.records, args.features)
        index = build_site(run, args.out)
    except (LivedocError, OSError, ValueError) as exc:
        print(f"livedoc: {exc}", file=sys.stderr)
        return 1
    counts = ", ".join(f"{n} {status}" for status, n in run.counts.items() if n)
    took = time.monotonic() - began
    print(f"livedoc: {index} ({len(run.features)} stories; {counts}) in {took:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
