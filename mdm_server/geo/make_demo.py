"""Writes the demo divisions' synthetic GeoJSON (mdm_server/geo/demo/): invented places with
invented streets, laid out in the North Sea so that no point can be mistaken for a real
address. Run `python -m mdm_server.geo.make_demo` after changing the layout below; the files it
writes are what Tabard serves."""

from __future__ import annotations

import json
import math
from pathlib import Path

DEMO_DIR = Path(__file__).parent / "demo"

# division id: (display name, centre longitude, centre latitude, street names)
DIVISIONS: dict[str, tuple[str, float, float, tuple[str, ...]]] = {
    "north": (
        "Northmoor (fictional)",
        2.60,
        54.62,
        (
            "Tallowmere Road",
            "Gannet Street",
            "Coldharbour Lane",
            "Skerry Way",
            "Brackwater Avenue",
            "Heronsgate",
            "Kelpie Row",
            "Dunlin Close",
            "Fogbank Terrace",
            "Saltcote Road",
            "Windle Street",
            "Peatfield Drive",
        ),
    ),
    "south": (
        "Saltmere (fictional)",
        2.80,
        54.42,
        (
            "Lantern Street",
            "Marram Road",
            "Oyster Lane",
            "Shingle Way",
            "Tidewell Avenue",
            "Cormorant Row",
            "Breakwater Drive",
            "Samphire Close",
            "Driftwood Terrace",
            "Harbourmaster Road",
            "Pennant Street",
            "Spindrift Lane",
        ),
    ),
    "east": (
        "Easterly Fen (fictional)",
        3.05,
        54.55,
        (
            "Reedbed Road",
            "Willowmarsh Lane",
            "Sluice Street",
            "Bittern Way",
            "Dyke Avenue",
            "Osier Row",
            "Fenreeve Drive",
            "Lapwing Close",
            "Mill Drain Terrace",
            "Sedge Road",
            "Withy Street",
            "Marshlight Lane",
        ),
    ),
}
HALF_WIDTH, HALF_HEIGHT = 0.11, 0.065  # degrees of longitude and latitude


def _boundary(lon: float, lat: float) -> list[list[float]]:
    """An irregular twelve-sided outline around the centre, closed."""
    ring = []
    for step in range(12):
        angle = 2 * math.pi * step / 12
        wobble = 0.9 + 0.1 * math.cos(3 * angle + 0.7)
        ring.append(
            [
                round(lon + HALF_WIDTH * wobble * math.cos(angle), 5),
                round(lat + HALF_HEIGHT * wobble * math.sin(angle), 5),
            ]
        )
    return [*ring, ring[0]]


def _streets(lon: float, lat: float, names: tuple[str, ...]) -> list[dict[str, object]]:
    """Six roughly east-west and six roughly north-south streets, each bent once."""
    features: list[dict[str, object]] = []
    for number, name in enumerate(names):
        share = (number % 6 + 0.5) / 6 - 0.5  # -0.42 .. 0.42 across the division
        bend = 0.12 * (1 if number % 2 else -1)
        if number < 6:  # across
            y = lat + share * HALF_HEIGHT * 0.9
            line = [
                [lon - HALF_WIDTH * 0.45, y],
                [lon + share * HALF_WIDTH * 0.3, y + bend * HALF_HEIGHT],
                [lon + HALF_WIDTH * 0.45, y + bend * HALF_HEIGHT * 0.5],
            ]
        else:  # down
            x = lon + share * HALF_WIDTH * 0.9
            line = [
                [x, lat - HALF_HEIGHT * 0.45],
                [x + bend * HALF_WIDTH, lat + share * HALF_HEIGHT * 0.3],
                [x + bend * HALF_WIDTH * 0.5, lat + HALF_HEIGHT * 0.45],
            ]
        features.append(
            {
                "type": "Feature",
                "properties": {"kind": "street", "name": name},
                "geometry": {
                    "type": "LineString",
                    "coordinates": [[round(x, 5), round(y, 5)] for x, y in line],
                },
            }
        )
    return features


def division_geojson(division: str) -> dict[str, object]:
    name, lon, lat, streets = DIVISIONS[division]
    boundary = {
        "type": "Feature",
        "properties": {"kind": "boundary", "name": name, "division": division},
        "geometry": {"type": "Polygon", "coordinates": [_boundary(lon, lat)]},
    }
    return {
        "type": "FeatureCollection",
        "name": name,
        "features": [boundary, *_streets(lon, lat, streets)],
    }


def main() -> None:
    DEMO_DIR.mkdir(exist_ok=True)
    for division in DIVISIONS:
        path = DEMO_DIR / f"{division}.geojson"
        path.write_text(json.dumps(division_geojson(division), indent=1) + "\n")
        print(path)


if __name__ == "__main__":
    main()
