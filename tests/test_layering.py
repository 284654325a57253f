"""DESIGN.md's rooms: the server and the agent meet only over HTTP."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _loaded_after_import(module: str) -> set[str]:
    code = f"import sys, {module}; print('\\n'.join(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return {name.split(".")[0] for name in result.stdout.split()}


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        ("mdm_server.main", {"device_agent", "virtual_device", "provisioning"}),
        ("device_agent.enrolment", {"mdm_server", "sqlalchemy", "sqlmodel", "fastapi"}),
        ("device_agent.checkin", {"mdm_server", "sqlalchemy", "sqlmodel", "fastapi"}),
        ("virtual_device", {"mdm_server", "device_agent", "sqlalchemy", "fastapi", "httpx"}),
        ("policies", {"sqlmodel", "sqlalchemy", "fastapi", "httpx", "adb_shell"}),
    ],
)
def test_a_room_does_not_import_what_it_must_not(module: str, forbidden: set[str]) -> None:
    assert _loaded_after_import(module) & forbidden == set()
