"""Driving Debian's Chromium with Playwright against a live `tabard serve`: each page
photographed at the widths the console is used at (1400 and 800 CSS px) and kept as a test
artefact, every console error (a Content Security Policy violation among them) and every
request leaving the server recorded so the test can insist there are none."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("TABARD_TEST_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("TABARD_TEST_ARTIFACTS", "test-artifacts"))
# As the machine's probe runs Chromium: nothing in the background reaching for the internet.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def chromium_or_skip() -> str:
    """The Chromium binary; CI installs it (.ci/run), so there its absence is a failure."""
    if shutil.which(CHROMIUM) or Path(CHROMIUM).exists():
        return CHROMIUM
    if os.environ.get("CI") == "true":
        pytest.fail(f"{CHROMIUM} is missing; .ci/run installs Debian's chromium")
    pytest.skip(f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)")


@dataclass
class Watch:
    """What the pages did that they must not: console errors, failed loads, foreign requests."""

    server: str
    errors: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)

    def attach(self, page) -> None:  # type: ignore[no-untyped-def]
        page.on(
            "console",
            lambda message: (
                message.type == "error" and self.errors.append(f"{page.url}: {message.text}")
            ),
        )
        page.on("pageerror", lambda error: self.errors.append(f"{page.url}: {error}"))
        page.on("request", self._request)

    def forgive_refusal(self, url: str, status: int) -> None:
        """A refusal the test asked for is no error: Chromium logs every 4xx it loads."""
        expected = f"{url}: Failed to load resource: the server responded with a status of {status}"
        self.errors = [error for error in self.errors if not error.startswith(expected)]

    def _request(self, request) -> None:  # type: ignore[no-untyped-def]
        url = request.url
        if not (url.startswith(self.server + "/") or url.startswith("data:")):
            self.foreign.append(url)


AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
# WCAG 2.0, 2.1 and 2.2 at levels A and AA.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


def accessibility_violations(page) -> list[str]:  # type: ignore[no-untyped-def]
    """axe-core's WCAG A and AA violations on the page as shown, one line each. Evaluated
    through the DevTools protocol, which the page's CSP does not govern, so the page under
    test keeps its real CSP."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8") + "\n;0")
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})"
        ".then(r => r.violations.map(v => v.id + ' (' + v.impact + '): ' + v.help + ' at ' +"
        " v.nodes.map(n => n.target.join(' ')).slice(0, 3).join(', ')))",
        AXE_TAGS,
    )
    return [f"{page.url}: {line}" for line in result]


# The force's staff use en-GB browsers in the UK: dates in fields read dd/mm/yyyy, 24-hour.
# Chromium draws date fields in its own interface language, which it takes from the
# environment (and has only with Debian's chromium-l10n); pages see the context's locale.
LOCALE = "en-GB"
TIMEZONE = "Europe/London"
UK_ENVIRONMENT = {"LANG": "en_GB.UTF-8", "LANGUAGE": "en_GB:en"}
WIDTHS = (1400, 800)  # a desk's console, and a Galaxy Tab A held upright
# What the window cuts off: a page wider than the window, or a table shown wider than the box
# it sits in (so part of it is out of sight until someone thinks to scroll).
CUT_OFF = """() => {
  const cut = [];
  const page = document.documentElement.scrollWidth;
  if (page > window.innerWidth) {
    cut.push(`the page is ${page} px wide`);
  }
  for (const table of document.querySelectorAll("main table")) {
    const box = table.parentElement;
    if (table.offsetParent !== null && table.offsetWidth > box.clientWidth + 1) {
      const name = table.id || (table.querySelector("th") || table).textContent.trim();
      cut.push(`table ${name}: ${table.offsetWidth} px in ${box.clientWidth} px`);
    }
  }
  return cut;
}"""
# Two frames painted, or half a second, whichever comes first: headless Chromium on a loaded
# machine can go a long while without scheduling a frame, and page.evaluate has no timeout of
# its own, so a bare requestAnimationFrame wait once held a test for ten minutes. The
# screenshot that follows waits for a frame itself (within the page's timeout).
SETTLED = """() => new Promise(done => {
  requestAnimationFrame(() => requestAnimationFrame(done));
  setTimeout(done, 500);
})"""


def drawn(page) -> None:  # type: ignore[no-untyped-def]
    """Wait until every chart on the page is drawn, and the page has painted since (charts
    redraw to their new width as the window is resized)."""
    page.wait_for_function(
        "() => Array.from(document.querySelectorAll('[data-chart]'))"
        ".every(chart => chart.dataset.drawn === 'true' && chart.querySelector('svg'))"
    )
    page.evaluate(SETTLED)


@dataclass
class Camera:
    """Numbered full-page screenshots at each width, one folder per test run."""

    folder: Path
    taken: list[Path] = field(default_factory=list)
    inaccessible: list[str] = field(default_factory=list)
    cut_off: list[str] = field(default_factory=list)
    shots: int = 0

    def shoot(self, page, name: str) -> list[Path]:  # type: ignore[no-untyped-def]
        """The page photographed whole at 1400 and at 800 px wide, its accessibility and
        anything the window cuts off checked at each, and the window put back as it was."""
        self.shots += 1
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        viewport = page.viewport_size
        paths = []
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": viewport["height"]})
            drawn(page)
            path = self.folder / f"{self.shots:02d}-{slug}-{width}.png"
            page.screenshot(path=str(path), full_page=True)
            paths.append(path)
            self.inaccessible.extend(
                f"{line} ({width} px)" for line in accessibility_violations(page)
            )
            self.cut_off.extend(
                f"{page.url}: {line} ({width} px)" for line in page.evaluate(CUT_OFF)
            )
        page.set_viewport_size(viewport)
        drawn(page)
        self.taken.extend(paths)
        return paths


@contextmanager
def chromium(
    server: str, artefacts: str, *, kind: str = "console"
) -> Iterator[tuple[object, Watch, Camera]]:
    """A headless Chromium, the watch on its pages, and the camera (photographs go to
    ARTIFACTS/kind/artefacts)."""
    from playwright.sync_api import sync_playwright

    binary = chromium_or_skip()
    folder = ARTIFACTS / kind / artefacts
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    watch = Watch(server)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=binary, args=CHROMIUM_ARGS, env={**os.environ, **UK_ENVIRONMENT}
        )
        try:
            yield browser, watch, Camera(folder)
        finally:
            browser.close()


def new_page(browser, watch: Watch, *, tablet: bool = True):  # type: ignore[no-untyped-def]
    """A fresh browser context (its own cookies) the size of a Galaxy Tab A held upright,
    set up as a UK member of staff's browser is (locale and time zone)."""
    viewport = {"width": 800, "height": 1280} if tablet else {"width": 1366, "height": 900}
    context = browser.new_context(
        viewport=viewport, accept_downloads=True, locale=LOCALE, timezone_id=TIMEZONE
    )
    page = context.new_page()
    page.set_default_timeout(30_000)
    watch.attach(page)
    return page
