"""The libraries the console serves are the registry's files, byte for byte, as their notes say,
with their licences beside them."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

VENDOR = Path(__file__).parents[2] / "mdm_server" / "console" / "static" / "vendor"


@pytest.mark.parametrize(
    ("library", "script"), [("htmx", "htmx.min.js"), ("echarts", "echarts.min.js")]
)
def test_each_vendored_script_is_the_one_its_note_names(library: str, script: str) -> None:
    folder = VENDOR / library
    note = (folder / "README.md").read_text()
    found = re.search(r"file\s+SHA-256\s+`([0-9a-f]{64})`", note)
    assert found, f"{library}'s README names no file SHA-256"
    assert hashlib.sha256((folder / script).read_bytes()).hexdigest() == found.group(1)
    assert (folder / "LICENSE").stat().st_size > 0
