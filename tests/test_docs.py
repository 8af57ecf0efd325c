"""What README.md, docs/*.md and simulator/README.md name exists: each `rod` command and option,
each file they point at, each Prometheus series, each variable rod reads; and every key of
rod.example.toml is in README's tables."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import httpx
import pytest

from runners_on_demand.cli import main
from runners_on_demand.config import load_settings
from runners_on_demand.listen.metrics import ListenMetrics
from runners_on_demand.metrics import Metrics
from runners_on_demand.wiring import build

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "simulator/README.md"]
# Where a variable a document names may be read: the code, the deployment, compose, scripts.
READERS = ["src", "simulator", "deploy", "scripts", "environment.py", "docker-compose*.yml"]


def shown(doc: Path) -> str:
    return str(doc.relative_to(ROOT))


def lines() -> Iterator[tuple[Path, str]]:
    """Each document's inline code spans and lines (code blocks included)."""
    for doc in DOCS:
        text = doc.read_text()
        for chunk in [*re.findall(r"`([^`\n]+)`", text), *text.splitlines()]:
            yield doc, chunk


def command_of(words: list[str]) -> tuple[click.Command, list[str]]:
    """The deepest `rod` command `words` name, and the words after it."""
    command: click.Command = main
    context = click.Context(main)
    for at, word in enumerate(words):
        found = command.get_command(context, word) if isinstance(command, click.Group) else None
        if found is None:
            return command, words[at:]
        command = found
    return command, []


def test_every_rod_command_and_option_named_exists() -> None:
    unknown = []
    for doc, line in lines():
        for found in re.finditer(r"(?<![\w/.-])rod ([a-z][a-z ]*)(.*)", line):
            command, rest = command_of(found[1].split())
            if command is main:
                continue  # prose: "rod serve's ...", "the rod job"
            # a command line ends at a pipe, a `;`, `&&`, a closing span or the next `rod `
            tail = re.split(r"[|;`)]|&&| rod ", " ".join(rest) + found[2])[0]
            options = {o for p in command.params for o in [*p.opts, *p.secondary_opts]}
            for option in re.findall(r"(?<![\w-])(--?[a-z][a-z-]*)", tail):
                if option not in options | {"--help"}:
                    unknown.append(f"{shown(doc)}: rod {command.name} {option}: {line.strip()}")
    assert unknown == []


def test_every_file_linked_or_named_exists() -> None:
    missing = []
    for doc in DOCS:
        text = doc.read_text()
        for link in re.findall(r"\]\(([^)#\s]+)", text):
            web = link.startswith(("http:", "https:", "mailto:"))
            if not web and not (doc.parent / link).exists():
                missing.append(f"{shown(doc)}: link {link}")
        spans = re.findall(
            r"`((?:src|simulator|tests|deploy|features|steps|scripts|ci)/[^`\s]+)`", text
        )
        for span in spans:
            path = span.split("::")[0].rstrip("/")
            if not re.search(r"[*{<]", path) and not (ROOT / path).exists():
                missing.append(f"{shown(doc)}: {span}")
    assert missing == []


# The series a metric family exposes in the text format, by type (prometheus_client).
SUFFIXES = {
    "counter": ("", "_total", "_created"),
    "histogram": ("", "_bucket", "_count", "_sum", "_created"),
}


def series() -> set[str]:
    """Every series name `rod serve` and `rod listen` expose, with and without the suffixes."""
    metrics = Metrics()
    settings = load_settings({"GITHUB_TOKEN": "t", "GITHUB_WEBHOOK_SECRET": "s"}, None)
    build(settings, httpx.AsyncClient(), httpx.AsyncClient(), metrics=metrics)  # the reconciler's
    ListenMetrics(metrics)
    names = set()
    for family in metrics.registry.collect():
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ("",)))
    return names


def test_every_metric_named_is_exposed() -> None:
    exposed = series()
    named = {
        (shown(doc), series_name)
        for doc, line in lines()
        for series_name in re.findall(r"\b(rod_[a-z0-9_]*[a-z0-9])\b", line)
    }
    assert named, "the documents name no series: the pattern is wrong"
    assert sorted(f"{doc}: {name}" for doc, name in named if name not in exposed) == []


def test_every_variable_named_is_read_somewhere() -> None:
    sources = "\n".join(
        path.read_text(errors="replace")
        for pattern in READERS
        for top in ROOT.glob(pattern)
        for path in ([top] if top.is_file() else top.rglob("*"))
        if path.is_file() and path.suffix in ("", ".py", ".hcl", ".yml", ".sh", ".tpl")
    )
    named = {
        (shown(doc), variable)
        for doc, line in lines()
        for variable in re.findall(
            r"(?<!\$\{)\b((?:GITHUB|NOMAD|ROD)_[A-Z0-9]+(?:_[A-Z0-9]+)*)\b", line
        )
    }
    assert sorted(f"{doc}: {name}" for doc, name in named if name not in sources) == []


def keys(table: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(table, key) of every setting in a TOML document; [nomad.headers] holds header names."""
    for key, value in table.items():
        if key == "headers":
            continue
        if isinstance(value, dict):
            yield from keys(value, f"{prefix}{key}.")
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            for item in value:
                yield from keys(item, f"{prefix}{key}.")
        else:
            yield prefix.rstrip("."), key


@pytest.mark.parametrize(
    ("table", "key"), sorted(set(keys(tomllib.loads((ROOT / "rod.example.toml").read_text()))))
)
def test_every_key_of_the_example_is_in_a_readme_table(table: str, key: str) -> None:
    rows = [row for row in (ROOT / "README.md").read_text().splitlines() if row.startswith("| ")]
    # [listen] has a table of its own, whose rows name the key alone
    heading = {"": "", "listen": "", "pools": "`[[pools]]` "}.get(table, f"`[{table}]` ")
    assert any(row.startswith(f"| {heading}") and f"`{key}`" in row for row in rows), (
        f"[{table}] {key}" if table else key
    )
