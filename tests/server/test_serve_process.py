"""What the server's own process sets up beyond the app: `create_app_from_env`, the factory
`tabard serve` hands to uvicorn."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from mdm_server.main import GC_THRESHOLDS, create_app

CPYTHON_DEFAULTS = (700, 10, 10)
REPORT = (
    "import gc; from mdm_server.main import create_app_from_env; "
    "before = gc.get_threshold(); create_app_from_env(); "
    "print(*before, *gc.get_threshold(), gc.get_freeze_count())"
)


def test_the_server_freezes_what_start_up_built_and_collects_less_often(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("TABARD_")}
    env.update(TABARD_DATA_DIR=str(tmp_path / "data"), TABARD_CONFIG_DIR=str(tmp_path / "config"))
    result = subprocess.run(
        [sys.executable, "-c", REPORT], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    figures = [int(word) for word in result.stdout.split()]
    assert tuple(figures[:3]) == CPYTHON_DEFAULTS
    assert tuple(figures[3:6]) == GC_THRESHOLDS
    assert figures[6] > 100_000  # the server's modules, routes and models, frozen


def test_building_an_app_elsewhere_leaves_the_collector_alone(settings: Any) -> None:
    """Tests build hundreds of apps in one process; freezing each would keep them all."""
    frozen = gc.get_freeze_count()
    threshold = gc.get_threshold()
    create_app(settings)
    assert (gc.get_threshold(), gc.get_freeze_count()) == (threshold, frozen)
