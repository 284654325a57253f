"""Fixtures for the end-to-end tests: a Tabard install of its own per test, on each backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PG_URL
from tests.databases import PostgresDatabases
from tests.e2e.harness import Tabard

# Real processes on a shared machine, two tests at a time: an end-to-end test gets ten minutes
# unless it says otherwise (the suite's default, two, suits tests in one process).
E2E_TIMEOUT_S = 600


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("e2e") and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(E2E_TIMEOUT_S))
    # A browser test looks at pages, and a page is the same whichever database is under it
    # (tests/console fetches every page on both): it runs once, on PostgreSQL when the run has
    # it, as a force deploys Tabard, and otherwise on SQLite.
    if PG_URL:
        keep: list[pytest.Item] = []
        once: list[pytest.Item] = []
        for item in items:
            (once if _browser_on(item) == "sqlite" else keep).append(item)
        if once:
            config.hook.pytest_deselected(items=once)
            items[:] = keep


def _browser_on(item: pytest.Item) -> str | None:
    """The database a browser test runs on (None for any other test)."""
    callspec = getattr(item, "callspec", None)
    if callspec is None or not item.get_closest_marker("browser"):
        return None
    return callspec.params.get("backend")


@pytest.fixture
def tabard(backend: str, tmp_path: Path, postgres: PostgresDatabases | None) -> Iterator[Tabard]:
    url = postgres.create() if backend == "postgresql" and postgres else None
    yield Tabard(tmp_path, database_url=url)
    if url and postgres:
        postgres.drop(url)
