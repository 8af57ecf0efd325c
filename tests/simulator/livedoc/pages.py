"""Read a built site with the standard library's HTML parser: ids, links, diagrams, sections."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path


@dataclass
class Diagram:
    """A `<pre class="mermaid">`: the arrows its container promises, and its source text."""

    section: str
    arrows: int
    source: str = ""


@dataclass
class Page(HTMLParser):
    """One HTML page, parsed."""

    path: Path
    ids: set[str] = field(default_factory=set)
    links: list[str] = field(default_factory=list)  # every href and src
    diagrams: list[Diagram] = field(default_factory=list)
    sections: dict[str, str] = field(default_factory=dict)  # scenario id -> its class
    text: str = ""

    def __post_init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._section = ""
        self._arrows = 0
        self._in_pre = False
        self._texts: list[str] = []
        self.feed(self.path.read_text(encoding="utf-8"))
        self.text = " ".join(self._texts)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if "id" in values:
            self.ids.add(values["id"])
        self.links += [values[k] for k in ("href", "src") if k in values]
        if tag == "section":
            self._section = values.get("id", "")
            self.sections[self._section] = values.get("class", "")
        if "data-arrows" in values:
            self._arrows = int(values["data-arrows"])
        if tag == "pre" and "mermaid" in values.get("class", "").split():
            self._in_pre = True
            self.diagrams.append(Diagram(self._section, self._arrows))

    def handle_endtag(self, tag: str) -> None:
        if tag == "pre":
            self._in_pre = False

    def handle_data(self, data: str) -> None:
        if self._in_pre:
            self.diagrams[-1].source += data
        else:
            self._texts.append(data)


def pages(root: Path) -> dict[str, Page]:
    """Every page of a site by its path relative to the root (`features/x.html`)."""
    return {p.relative_to(root).as_posix(): Page(p) for p in sorted(root.rglob("*.html"))}
