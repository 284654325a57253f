"""Placing a filed report on its division's map, deterministically, from what the report says.

A report that gives `latitude` and `longitude` is put there. Otherwise its location text (every
field named `location` or ending `_location`, whatever the kind of report, so a new kind of
filing is placed with no change here) is read for a street of the division: named, the report
goes on that street, at a point along it that the text decides; not named, at a point inside the
division's boundary that the text decides. The same text always lands on the same point. A
report with no division, no map or no location text has no point."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Mapping
from itertools import pairwise
from typing import Any

from mdm_server.geo.maps import DivisionMap, Point, Street

COORDINATE_PLACES = 5  # about a metre


def location_text(fields: Mapping[str, Any]) -> str:
    """The report's location text: its `location` and `*_location` fields, in name order."""
    texts = [
        str(value).strip()
        for key, value in sorted(fields.items())
        if (key == "location" or key.endswith("_location")) and isinstance(value, str)
    ]
    return ", ".join(text for text in texts if text)


def _draws(text: str) -> Iterator[float]:
    """Numbers in [0, 1) drawn from the text, the same every time."""
    counter = 0
    while True:
        digest = hashlib.sha256(f"{counter}|{text.lower()}".encode()).digest()
        for offset in range(0, 32, 4):
            yield int.from_bytes(digest[offset : offset + 4], "big") / 2**32
        counter += 1


def inside(point: Point, ring: tuple[Point, ...]) -> bool:
    """Whether the point lies inside the closed ring (even-odd rule)."""
    x, y = point
    found = False
    for (x1, y1), (x2, y2) in pairwise(ring):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            found = not found
    return found


def _along(street: Street, share: float) -> Point:
    """The point `share` of the way along the street's line."""
    legs = list(pairwise(street.line))
    lengths = [math.dist(a, b) for a, b in legs]
    remaining = share * sum(lengths)
    for (a, b), length in zip(legs, lengths, strict=True):
        if remaining <= length and length > 0:
            t = remaining / length
            return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t)
        remaining -= length
    return street.line[-1]


def _named_street(text: str, streets: tuple[Street, ...]) -> Street | None:
    """The street the text names (the longest name, where one name holds another)."""
    lowered = text.lower()
    named = [street for street in streets if street.name.lower() in lowered]
    return max(named, key=lambda street: len(street.name), default=None)


def _somewhere_inside(text: str, ring: tuple[Point, ...]) -> Point:
    west, east = min(x for x, _ in ring), max(x for x, _ in ring)
    south, north = min(y for _, y in ring), max(y for _, y in ring)
    draws = _draws(text)
    for _ in range(200):
        point = (west + (east - west) * next(draws), south + (north - south) * next(draws))
        if inside(point, ring):
            return point
    return (
        sum(x for x, _ in ring[:-1]) / (len(ring) - 1),
        sum(y for _, y in ring[:-1]) / (len(ring) - 1),
    )


def place(fields: Mapping[str, Any], division_map: DivisionMap | None) -> Point | None:
    """Where the report goes: its own coordinates, or its location text placed on the map."""
    longitude, latitude = fields.get("longitude"), fields.get("latitude")
    if isinstance(latitude, int | float) and isinstance(longitude, int | float):
        return (float(longitude), float(latitude))
    text = location_text(fields)
    if division_map is None or not text:
        return None
    street = _named_street(text, division_map.streets)
    if street is not None:
        point = _along(street, 0.05 + 0.9 * next(_draws(text)))
    else:
        point = _somewhere_inside(text, division_map.boundary)
    return (round(point[0], COORDINATE_PLACES), round(point[1], COORDINATE_PLACES))
