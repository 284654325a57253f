"""The main menu marks the page you are on, and only that one."""

from __future__ import annotations

import re
from collections.abc import Callable

from tests.console.conftest import Browser


def test_only_the_most_specific_menu_item_is_current(
    browser_for: Callable[..., Browser],
) -> None:
    browser = browser_for("auditor")
    for path, label in (
        ("/console/audit/bundle", "Evidence bundle"),
        ("/console/audit", "Audit search"),
    ):
        page = browser.get(path)
        assert page.status_code == 200
        current = re.findall(r'<a href="[^"]+" aria-current="page">([^<]+)</a>', page.text)
        assert current == [label], path
