"""The division map drawn for the phone as inline SVG: the division's outline, a density layer
(a grid shaded by how many reports fall in each cell) and each report as its kind's shape. No
script and no style attribute (SVG presentation attributes only), so the screen's strict
Content Security Policy holds; nothing is fetched."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape

SIZE, PAD = 320, 8
GRID = 12  # density cells across the longer side
COLOURS = ("#1d5fa8", "#c25400", "#1e7b45", "#8e2c8e", "#a4161a", "#4a5563")
SHAPES = ("circle", "triangle", "diamond", "square", "cross", "hexagon")
KNOWN = (
    "incident_report",
    "missing_person_report",
    "witness_statement",
    "stop_and_search",
    "safeguarding_referral",
)
DENSITY = "#e6550d"


@dataclass(frozen=True)
class Key:
    kind: str
    words: str
    colour: str
    shape: str
    count: int
    placed: int


def key_of(view: dict[str, Any]) -> list[Key]:
    """Each kind with its colour, shape and counts; a kind keeps its look whatever is shown."""
    keys: list[Key] = []
    unknown = 0
    for one in view.get("counts", []):
        kind = str(one["kind"])
        if kind in KNOWN:
            n = KNOWN.index(kind)
        else:  # a kind this screen does not know yet: the next look, never a known kind's
            n = len(KNOWN) + unknown
            unknown += 1
        keys.append(
            Key(
                kind,
                kind.replace("_", " "),
                COLOURS[(n + n // len(SHAPES)) % len(COLOURS)],  # past six, new pairs
                SHAPES[n % len(SHAPES)],
                one["count"],
                one["placed"],
            )
        )
    return keys


# Each shape's corners around its centre, in units of its radius (circles and squares aside).
_CORNERS: dict[str, tuple[tuple[float, float], ...]] = {
    "triangle": ((0, -1.2), (1.2, 1), (-1.2, 1)),
    "diamond": ((0, -1.2), (1.2, 0), (0, 1.2), (-1.2, 0)),
    "cross": (
        (-0.4, -1),
        (0.4, -1),
        (0.4, -0.4),
        (1, -0.4),
        (1, 0.4),
        (0.4, 0.4),
        (0.4, 1),
        (-0.4, 1),
        (-0.4, 0.4),
        (-1, 0.4),
        (-1, -0.4),
        (-0.4, -0.4),
    ),
    "hexagon": tuple(
        (math.cos(math.radians(60 * k)), math.sin(math.radians(60 * k))) for k in range(6)
    ),
}


def _shape(shape: str, x: float, y: float, colour: str) -> str:
    r = 5.5
    if shape == "circle":
        drawn = f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r}"'
    elif shape == "square":
        drawn = f'<rect x="{x - r:.1f}" y="{y - r:.1f}" width="{2 * r}" height="{2 * r}"'
    else:
        corners = [(x + a * r, y + b * r) for a, b in _CORNERS[shape]]
        drawn = '<polygon points="' + " ".join(f"{a:.1f},{b:.1f}" for a, b in corners) + '"'
    return drawn + f' fill="{colour}" stroke="#ffffff" stroke-width="1.2"/>'


class _Projection:
    """Longitude and latitude to the drawing's x and y, the outline's extent filling it."""

    def __init__(self, rings: list[list[tuple[float, float]]]) -> None:
        xs = [lon for ring in rings for lon, _ in ring]
        ys = [lat for ring in rings for _, lat in ring]
        self.west, self.north = min(xs), max(ys)
        self.squash = math.cos(math.radians((min(ys) + max(ys)) / 2))
        span = max((max(xs) - self.west) * self.squash, max(ys) - min(ys)) or 1.0
        self.scale = (SIZE - 2 * PAD) / span
        self.height = math.ceil((max(ys) - min(ys)) * self.scale + 2 * PAD)

    def __call__(self, lon: float, lat: float) -> tuple[float, float]:
        return (
            PAD + (lon - self.west) * self.squash * self.scale,
            PAD + (self.north - lat) * self.scale,
        )


def _lines(
    outline: dict[str, Any],
) -> tuple[list[list[tuple[float, float]]], list[list[tuple[float, float]]]]:
    boundary, streets = [], []
    for feature in outline.get("features", []):
        geometry = feature.get("geometry") or {}
        kind = (feature.get("properties") or {}).get("kind")
        if kind == "boundary" and geometry.get("type") == "Polygon":
            boundary.append([(float(x), float(y)) for x, y, *_ in geometry["coordinates"][0]])
        elif kind == "street" and geometry.get("type") == "LineString":
            streets.append([(float(x), float(y)) for x, y, *_ in geometry["coordinates"]])
    return boundary, streets


def draw(view: dict[str, Any]) -> Markup | None:
    """The map as SVG, or None where the server sent no outline."""
    outline = view.get("outline")
    if not outline:
        return None
    boundary, streets = _lines(outline)
    if not boundary:
        return None
    project = _Projection(boundary)
    parts = []
    for ring in boundary:
        points = " ".join(f"{x:.1f},{y:.1f}" for x, y in (project(*p) for p in ring))
        parts.append(
            f'<polygon points="{points}" fill="#f4f6f9" stroke="#4a5563" stroke-width="1.5"/>'
        )
    for line in streets:
        points = " ".join(f"{x:.1f},{y:.1f}" for x, y in (project(*p) for p in line))
        parts.append(
            f'<polyline points="{points}" fill="none" stroke="#9aa5b4" stroke-width="1.5"/>'
        )
    placed = [(point, project(point["longitude"], point["latitude"])) for point in view["points"]]
    cell = SIZE / GRID
    density = Counter((int(x // cell), int(y // cell)) for _, (x, y) in placed)
    most = max(density.values(), default=1)
    outer = " ".join(f"{x:.1f},{y:.1f}" for x, y in (project(*p) for p in boundary[0]))
    parts.append(f'<clipPath id="division"><polygon points="{outer}"/></clipPath>')
    parts.append('<g clip-path="url(#division)">')  # the density stays inside the division
    for (column, row), count in sorted(density.items()):
        parts.append(
            f'<rect x="{column * cell:.1f}" y="{row * cell:.1f}" width="{cell:.1f}" '
            f'height="{cell:.1f}" fill="{DENSITY}" fill-opacity="{0.12 + 0.5 * count / most:.2f}"/>'
        )
    parts.append("</g>")
    looks = {key.kind: key for key in key_of(view)}
    for point, (x, y) in placed:
        look = looks.get(point["kind"])
        if look is not None:
            parts.append(_shape(look.shape, x, y, look.colour))
    label = escape(
        f"Map of {view['name']}: {len(placed)} reports placed; "
        + "; ".join(f"{key.words}: {key.placed}" for key in looks.values())
    )
    return Markup(  # noqa: S704 - every value is a number, a fixed colour or escaped
        f'<svg class="map" viewBox="0 0 {SIZE} {project.height}" role="img" '
        f'aria-label="{label}">{"".join(parts)}</svg>'
    )


def swatch(key: Key) -> Markup:
    """The kind's shape in its colour, for the key under the map."""
    return Markup(  # noqa: S704 - fixed drawings and colours
        '<svg width="14" height="14" viewBox="-7 -7 14 14" aria-hidden="true" focusable="false">'
        + _shape(key.shape, 0, 0, key.colour)
        + "</svg>"
    )
