"""The witness's signature on the screen: the pad's strokes as the page sends them, checked and
made into the transaction's `signature` (docs/device-protocol.md §6.3), and drawn back as
SVG path data from the strokes the server returns."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeGuard

from device_agent.screen.forms import FormError

# The protocol's caps (the server enforces them too; here they become words on the pad).
MAX_SIDE = 4096
MAX_STROKES = 100
MAX_POINTS = 5000
BROKEN = "The signature did not arrive whole. Clear it and ask the witness to sign again."
NOT_SIGNED = "The witness has not signed yet: ask them to sign in the box, then file it."


def signature(text: str, now: datetime) -> dict[str, Any]:
    """The pad's `{"width", "height", "strokes"}` as the transaction's signature, signed at
    `now` (to the second, in UTC); FormError saying what is wrong with it."""
    try:
        drawn = json.loads(text) if text.strip() else None
    except json.JSONDecodeError:
        drawn = None
    if drawn is None:
        raise FormError(NOT_SIGNED)
    if not isinstance(drawn, dict):
        raise FormError(BROKEN)
    width, height = drawn.get("width"), drawn.get("height")
    if not _whole(width, 1, MAX_SIDE):
        raise FormError(BROKEN)
    if not _whole(height, 1, MAX_SIDE):
        raise FormError(BROKEN)
    strokes = drawn.get("strokes")
    if not isinstance(strokes, list) or not all(_stroke(s, width, height) for s in strokes):
        raise FormError(BROKEN)
    strokes = [stroke for stroke in strokes if stroke]
    if not strokes:
        raise FormError(NOT_SIGNED)
    if len(strokes) > MAX_STROKES or sum(len(s) for s in strokes) > MAX_POINTS:
        raise FormError("The signature is too long. Clear it and sign again, more simply.")
    return {
        "width": width,
        "height": height,
        "strokes": strokes,
        "signed_at": now.astimezone(UTC).replace(microsecond=0).isoformat(),
    }


def _whole(value: object, low: int, high: int) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _stroke(stroke: object, width: int, height: int) -> bool:
    return isinstance(stroke, list) and all(
        isinstance(point, list)
        and len(point) == 2
        and _whole(point[0], 0, width)
        and _whole(point[1], 0, height)
        for point in stroke
    )


@dataclass(frozen=True)
class Drawing:
    """A signature to draw: the pad's size and one SVG path per stroke."""

    width: int
    height: int
    paths: tuple[str, ...]


def drawing(signed: dict[str, Any] | None) -> Drawing | None:
    """SVG path data for a signature's strokes (a one-point stroke is a dot), or None."""
    if not signed:
        return None
    paths = []
    for stroke in signed.get("strokes") or []:
        points = [f"{int(x)} {int(y)}" for x, y in stroke]
        if points:
            ends = points if len(points) > 1 else points * 2
            paths.append("M" + " L".join(ends))
    return Drawing(int(signed["width"]), int(signed["height"]), tuple(paths))
