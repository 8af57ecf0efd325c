"""The site in a real browser: headless Chromium opens it from file:// with the network cut off.

Playwright drives the system's Chromium (Debian `chromium`; `LIVEDOC_CHROMIUM` names another),
never a browser of its own. Screenshots go to build/livedoc-screenshots/ (a CI artifact).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Route, sync_playwright

from .conftest import REPO, Site

SHOTS = REPO / "build" / "livedoc-screenshots"
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# Headless as root (CI): no sandbox, no GPU, and none of the background traffic a closed
# network refuses.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium() -> str | None:
    """The browser to drive: LIVEDOC_CHROMIUM, else the first Chromium or Chrome on PATH."""
    names = [os.environ.get("LIVEDOC_CHROMIUM", ""), *BROWSERS]
    return next((found for name in names if name and (found := shutil.which(name))), None)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    path = chromium()
    if path is None:
        pytest.skip("no Chromium on PATH (Debian: apt-get install chromium); .ci/run installs it")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path, args=FLAGS)
        yield launched
        launched.close()


class Viewer:
    """One tab that opens pages from file:// with every other request aborted.

    One tab for a whole site: a navigation reuses the compiled mermaid script of the last one.
    """

    def __init__(self, browser: Browser, width: int = 1600) -> None:
        self.page: Page = browser.new_page(viewport={"width": width, "height": 900})
        self.blocked: list[str] = []
        self.errors: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.route("**/*", self._only_files)

    def _only_files(self, route: Route) -> None:
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort()

    def open(self, path: Path) -> int:
        """Open a page and check it: every diagram drew as an SVG with one line per arrow, no
        page error, no request left the machine, nothing ran from a label. Its diagram count."""
        page = self.page
        page.goto(path.as_uri())
        page.wait_for_selector("body:not([data-diagrams=pending])", timeout=60_000)
        expected = int(page.get_attribute("body", "data-diagram-count") or 0)
        state = page.get_attribute("body", "data-diagrams")
        error = page.get_attribute("body", "data-diagram-error")
        assert state == ("rendered" if expected else "none"), f"{path.name}: {error}"
        assert page.locator("pre.mermaid").count() == expected
        assert page.locator("svg[aria-roledescription=sequence]").count() == expected
        for diagram in page.locator(".diagram").all():
            drawn = diagram.locator("svg [class^=messageLine]").count()
            assert drawn == int(diagram.get_attribute("data-arrows") or -1), path.name
        assert not self.errors, self.errors
        assert not self.blocked, self.blocked
        assert page.evaluate("window.__livedocPwned") is None
        return expected

    def screenshots(self, site: Site) -> None:
        """The index, a story, and the README's picture of "A pull request is opened" (its
        diagram unclipped, at a small scale) into build/livedoc-screenshots/."""
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.open(site.root / "index.html")
        self.page.screenshot(path=str(SHOTS / f"{site.name}-index.png"), full_page=True)
        self.open(site.root / "features" / "on-demand-runner.html")
        self.page.screenshot(path=str(SHOTS / f"{site.name}-on-demand-runner.png"))
        unclipped = "main { max-width: none } #line-10 { width: fit-content }"
        self.page.add_style_tag(content=unclipped + " .diagram { overflow: visible }")
        self.page.evaluate("document.body.style.zoom = '0.7'")
        self.page.locator("#line-10").screenshot(path=str(SHOTS / f"{site.name}-scenario.png"))


def test_the_index_and_a_story_render_every_diagram(browser: Browser, fixture_site: Site) -> None:
    viewer = Viewer(browser)
    assert viewer.open(fixture_site.root / "index.html") == 0
    assert viewer.open(fixture_site.root / "features" / "on-demand-runner.html") == 3
    viewer.screenshots(fixture_site)


def test_every_page_of_the_real_site_renders(browser: Browser, real_site: Site) -> None:
    viewer = Viewer(browser)
    diagrams = sum(viewer.open(path) for path in sorted(real_site.root.rglob("*.html")))
    ran = [r for r in real_site.records if r["kind"] == "scenario" and r["calls"]]
    assert diagrams == len(ran) > 0
    viewer.screenshots(real_site)


def test_hostile_labels_show_as_text_and_run_nothing(browser: Browser, fixture_site: Site) -> None:
    viewer = Viewer(browser, 1400)
    assert viewer.open(fixture_site.root / "features" / "hostile.html") == 1
    svg_text = viewer.page.locator("svg[aria-roledescription=sequence]").text_content() or ""
    assert "window.__livedocPwned = 1" in svg_text
    viewer.page.screenshot(path=str(SHOTS / "fixture-hostile.png"), full_page=True)
