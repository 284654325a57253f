"""bench/apps.py end to end at its smallest: a real server, three light agents, a 100 KB APK.
It proves the bench delivers to every agent and reads the release back as finished; it
asserts no timing."""

from __future__ import annotations

import pytest

from bench.apps import run


@pytest.mark.e2e
def test_release_reaches_every_light_agent() -> None:
    results = run(agents=3, size_bytes=100 * 1024, concurrency=2)

    assert results["release"] == {"state": "finished", "installed": 3, "failed": 0, "pending": 0}
    assert results["delivery"]["downloads"] == 3
    assert results["plain"]["downloads"] == 3
    assert results["failures"] == []
    assert results["complete"]
