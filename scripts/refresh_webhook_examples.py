"""Regenerate tests/samples/workflow_job/: real `workflow_job` payloads from octokit's examples.

Usage: python scripts/refresh_webhook_examples.py [--version 7.6.1]

Runs `npm pack @octokit/webhooks-examples@VERSION` in a temporary directory (the only network
access), reads `package/api.github.com/index.json` straight from the tarball, and writes each
`workflow_job` example as `NN.<action>[.<conclusion>].json` plus a README with the attribution.

One correction is applied, and the README says so: the package's `queued` example fills
`runner_id`, `runner_name`, `runner_group_id` and `runner_group_name`, but GitHub sends them as
null until a runner takes the job (github/docs#12083). They are set to null for every example whose
status is `queued` or `waiting`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent.parent / "tests" / "samples" / "workflow_job"
PACKAGE = "@octokit/webhooks-examples"
INDEX = "package/api.github.com/index.json"
RUNNER_FIELDS = ("runner_id", "runner_name", "runner_group_id", "runner_group_name")

README = """\
# Real `workflow_job` payloads

Vendored from the npm package `{package}` version {version}
(https://www.npmjs.com/package/{package}, file `api.github.com/index.json`; source
https://github.com/octokit/webhooks). License: {license}; author: {author} (from its
package.json). Tarball sha512: `{sha512}`.

Regenerate with `python scripts/refresh_webhook_examples.py --version {version}`; do not edit by
hand. Files are named `NN.<action>[.<conclusion>].json`, NN being the position in the package.

Correction: the package's `queued` example fills the `runner_*` fields, but GitHub leaves them
null until a runner takes the job (github/docs#12083). The script sets to null
{fields}
in every example whose `workflow_job.status` is `queued` or `waiting`; changed here: {corrected}.

Kept as is: examples without `workflow_job.run_attempt`, which current payloads always carry (old
docs examples); `parse_delivery` refuses them naming the field: {no_attempt}.

| File | action | status | labels | repository |
|---|---|---|---|---|
{rows}
"""


def npm_pack(version: str, workdir: Path) -> Path:
    """`npm pack` the package into workdir and return the tarball."""
    name = subprocess.run(
        ["npm", "pack", f"{PACKAGE}@{version}", "--silent"],
        cwd=workdir,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()[-1]
    return workdir / name


def examples(tarball: Path) -> list[dict[str, Any]]:
    """The `workflow_job` examples of index.json inside the tarball."""
    with tarfile.open(tarball) as tar:
        member = tar.extractfile(INDEX)
        if member is None:
            raise SystemExit(f"{tarball.name} has no {INDEX}")
        index = json.load(member)
    for event in index:
        if event["name"] == "workflow_job":
            return list(event["examples"])
    raise SystemExit(f"{INDEX} has no workflow_job event")


def manifest(tarball: Path) -> dict[str, Any]:
    """The package.json inside the tarball."""
    with tarfile.open(tarball) as tar:
        member = tar.extractfile("package/package.json")
        return dict(json.load(member)) if member is not None else {}


def correct(example: dict[str, Any]) -> bool:
    """Null the runner fields of a job no runner has taken yet; True if anything changed."""
    job = example["workflow_job"]
    if job.get("status") not in ("queued", "waiting"):
        return False
    changed = any(job.get(key) is not None for key in RUNNER_FIELDS)
    job.update(dict.fromkeys(RUNNER_FIELDS))
    return changed


def file_name(position: int, example: dict[str, Any]) -> str:
    """`NN.<action>[.<conclusion>].json`."""
    conclusion = example["workflow_job"].get("conclusion")
    return (
        f"{position:02d}.{example['action']}" + (f".{conclusion}" if conclusion else "") + ".json"
    )


def write(version: str, tarball: Path, out: Path) -> list[Path]:
    """Replace the vendored examples and README in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.json"):
        old.unlink()
    written, corrected, no_attempt, rows = [], [], [], []
    for position, example in enumerate(examples(tarball)):
        path = out / file_name(position, example)
        if correct(example):
            corrected.append(f"`{path.name}`")
        if "run_attempt" not in example["workflow_job"]:
            no_attempt.append(f"`{path.name}`")
        path.write_text(json.dumps(example, indent=2, ensure_ascii=False) + "\n")
        written.append(path)
        job = example["workflow_job"]
        labels = ", ".join(job["labels"])
        rows.append(
            f"| `{path.name}` | {example['action']} | {job['status']} | {labels} "
            f"| {example['repository']['full_name']} |"
        )
    sha512 = hashlib.sha512(tarball.read_bytes()).hexdigest()
    package = manifest(tarball)
    (out / "README.md").write_text(
        README.format(
            package=PACKAGE,
            version=version,
            license=package.get("license", "unknown"),
            author=package.get("author", "unknown"),
            no_attempt=", ".join(no_attempt) or "none",
            sha512=sha512,
            fields=", ".join(f"`{field}`" for field in RUNNER_FIELDS),
            corrected=", ".join(corrected) or "none",
            rows="\n".join(rows),
        )
    )
    return written


def main() -> None:
    """Parse arguments, pack, write."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", default="7.6.1", help=f"{PACKAGE} version")
    parser.add_argument("--out", type=Path, default=OUT, help="target directory")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        written = write(args.version, npm_pack(args.version, Path(tmp)), args.out)
    print(f"wrote {len(written)} examples to {args.out}")


if __name__ == "__main__":
    main()
