"""Fixtures of the audit-log tests: the log's fixed note signer and a data directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from mdm_server.audit.notes import NoteSigner
from tests.audit.log import fixed_signer


@pytest.fixture
def signer() -> NoteSigner:
    return fixed_signer()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"
