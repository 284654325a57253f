"""Fixtures for the end-to-end tests: a Tabard install of its own per test, on each backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.databases import PostgresDatabases
from tests.e2e.harness import Tabard


@pytest.fixture
def tabard(backend: str, tmp_path: Path, postgres: PostgresDatabases | None) -> Iterator[Tabard]:
    url = postgres.create() if backend == "postgresql" and postgres else None
    yield Tabard(tmp_path, database_url=url)
    if url and postgres:
        postgres.drop(url)
