"""Division maps: a GeoJSON FeatureCollection per division, a `boundary` polygon and named
`street` lines (each feature's `properties.kind`). Tabard ships synthetic maps of three
invented divisions (mdm_server/geo/demo/); a force names a directory of its own instead
(`TABARD_MAP_DIR`, docs/map.md). Read from disk once per division and kept."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEMO_DIR = Path(__file__).parent / "demo"
_DIVISION_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _-]{0,63}$")  # as validation.Division

Point = tuple[float, float]  # longitude, latitude, as GeoJSON orders them


@dataclass(frozen=True)
class Street:
    name: str
    line: tuple[Point, ...]


@dataclass(frozen=True)
class DivisionMap:
    """One division's outline and streets, and the GeoJSON they came from."""

    division: str
    name: str
    boundary: tuple[Point, ...]
    streets: tuple[Street, ...]
    geojson: dict[str, Any]


class MapError(ValueError):
    """A division's GeoJSON file is not the shape Tabard reads (docs/map.md)."""


def _points(coordinates: Any) -> tuple[Point, ...]:
    return tuple((float(lon), float(lat)) for lon, lat, *_ in coordinates)


def parse_division(division: str, geojson: dict[str, Any]) -> DivisionMap:
    """A division's map from its FeatureCollection: the first `boundary` polygon's outer ring
    and every `street` line with its name."""
    boundary: tuple[Point, ...] = ()
    streets: list[Street] = []
    name = str(geojson.get("name") or division)
    for feature in geojson.get("features") or []:
        properties = feature.get("properties") or {}
        geometry = feature.get("geometry") or {}
        kind = properties.get("kind")
        if kind == "boundary" and geometry.get("type") == "Polygon" and not boundary:
            boundary = _points(geometry["coordinates"][0])
            name = str(properties.get("name") or name)
        elif kind == "street" and geometry.get("type") == "LineString" and properties.get("name"):
            streets.append(Street(str(properties["name"]), _points(geometry["coordinates"])))
    if len(boundary) < 4:
        raise MapError(f"the map of division {division} has no boundary polygon")
    return DivisionMap(division, name, boundary, tuple(streets), geojson)


class MapSource:
    """Where division maps are read from: the shipped demo maps, or a force's directory."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or DEMO_DIR
        self._loaded: dict[str, DivisionMap | None] = {}

    def division(self, division: str | None) -> DivisionMap | None:
        """The division's map, or None where there is none (or no division)."""
        if division is None or not _DIVISION_FILE.match(division):
            return None
        if division not in self._loaded:
            path = self.directory / f"{division}.geojson"
            self._loaded[division] = (
                parse_division(division, json.loads(path.read_text())) if path.is_file() else None
            )
        return self._loaded[division]
