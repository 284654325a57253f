"""Time as a dependency: the server asks its clock, so tests can move time on purpose."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The current time in UTC, timezone-aware."""
    return datetime.now(UTC)
