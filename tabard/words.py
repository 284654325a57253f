"""Values as people read them: never a Python repr (`['a', 'b']`, `{'k': v}`), never a
validation dump, times to the second with their zone. Standard library only, so the agent's
errors can use it as well as the CLI's tables."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

_HALF_SECOND = timedelta(microseconds=500_000)
_LOCATIONS = ("body.", "query.", "path.", "header.")


def when(value: str | datetime | None) -> str:
    """A time as a person reads it, rounded to the second, with its zone:
    `2026-11-21 09:30:15 UTC`. Text that is not a time is returned as it is."""
    if not value:
        return ""
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
    else:
        moment = value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # the API's times are UTC
    rounded = (moment.astimezone(UTC) + _HALF_SECOND).replace(microsecond=0)
    return f"{rounded:%Y-%m-%d %H:%M:%S} UTC"


def plain(value: Any) -> str:
    """Any JSON value in words: lists joined with commas, objects as `key: value` pairs,
    yes and no for booleans, nothing for null."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return when(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return "; ".join(f"{key}: {_nested(item)}" for key, item in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(plain(item) for item in value)
    return str(value)


def _nested(value: Any) -> str:
    text = plain(value)
    return f"({text})" if isinstance(value, Mapping) and value else text


def _field(name: Any) -> str:
    text = str(name)
    for location in _LOCATIONS:
        if text.startswith(location):
            return text[len(location) :]
    return text


def describe_detail(detail: Any) -> str:
    """A server error's `detail` as one readable line: located problems as `field: problem`
    joined by semicolons, an object by its message."""
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, Mapping) and "field" in item:
                parts.append(f"{_field(item['field'])}: {plain(item.get('problem', ''))}")
            else:
                parts.append(describe_detail(item))
        return "; ".join(parts)
    if isinstance(detail, Mapping):
        message = detail.get("message")
        if isinstance(message, str) and message:
            return message
    return plain(detail)
