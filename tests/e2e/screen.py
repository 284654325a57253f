"""Driving the officer's screen in Chromium: launching it from the running agent, a browser
context the size of a Galaxy J5 or a Tab A, each screen photographed at both sizes with
axe-core's verdict, and a look through every browser storage area for what must be gone."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.e2e.browser import LOCALE, SETTLED, accessibility_violations
from tests.e2e.harness import Tabard

J5 = {"width": 360, "height": 640}
TAB_A = {"width": 800, "height": 1280}
SIZES = (J5, TAB_A)
# Every storage area a page of the screen's origin could use, as text to search.
STORAGE = """async () => {
  const found = [];
  for (const area of [localStorage, sessionStorage]) {
    for (let i = 0; i < area.length; i += 1) {
      found.push(area.key(i) + '=' + area.getItem(area.key(i)));
    }
  }
  for (const database of await indexedDB.databases()) {
    found.push('indexedDB:' + database.name);
  }
  for (const name of await caches.keys()) {
    const cache = await caches.open(name);
    for (const request of await cache.keys()) {
      const answer = await cache.match(request);
      found.push('cache:' + request.url + ' ' + (await answer.text()));
    }
  }
  return found.join('\\n');
}"""
# Touch targets smaller than 48 x 48 CSS px (links inside running text excepted).
SMALL_TARGETS = """() => Array.from(document.querySelectorAll('button, input, select, textarea, a'))
  .filter(e => e.offsetParent !== null && !e.closest('p'))
  .map(e => [e, e.getBoundingClientRect()])
  .filter(([e, box]) => box.height < 48 || (box.width < 48 && e.type !== 'hidden'))
  .map(([e, box]) => `${e.tagName.toLowerCase()} "${(e.textContent || e.name || '').trim()}"`
    + ` is ${Math.round(box.width)} x ${Math.round(box.height)}`)"""


def launch_screen(tabard: Tabard, state: Path) -> dict[str, Any]:
    """`tabard agent --state STATE ui --json`: the launch URL and port."""
    launched: dict[str, Any] = json.loads(
        tabard.run("agent", "--state", str(state), "ui", "--json").stdout
    )
    return launched


def phone(browser: Any, watch: Any, size: dict[str, int]) -> Any:
    """A fresh browser context (its own cookies and storage) the size of the device."""
    context = browser.new_context(
        viewport=size, locale=LOCALE, timezone_id="Europe/London", has_touch=True
    )
    page = context.new_page()
    page.set_default_timeout(30_000)
    watch.attach(page)
    return page


@dataclass
class PhoneCamera:
    """Numbered full-page photographs of each screen at the J5's and the Tab A's size, with
    axe-core's WCAG A/AA violations, what the window cuts off and small touch targets."""

    folder: Path
    taken: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    shots: int = 0

    def shoot(self, page: Any, name: str) -> None:
        self.shots += 1
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        before = page.viewport_size
        for size in SIZES:
            page.set_viewport_size(size)
            page.evaluate("window.scrollTo(0, 0)")  # the sticky bar at the top of the photo
            page.evaluate(SETTLED)
            path = self.folder / f"{self.shots:02d}-{slug}-{size['width']}x{size['height']}.png"
            page.screenshot(path=str(path), full_page=True)
            self.taken.append(path)
            where = f"{name} at {size['width']} px"
            self.problems.extend(f"{where}: {line}" for line in accessibility_violations(page))
            self.problems.extend(f"{where}: {line}" for line in page.evaluate(SMALL_TARGETS))
            wide = page.evaluate("document.documentElement.scrollWidth")
            if wide > size["width"]:
                self.problems.append(f"{where}: the page is {wide} px wide")
        page.set_viewport_size(before)
        page.evaluate(SETTLED)
