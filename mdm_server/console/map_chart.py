"""The division map as an ECharts option: the division's outline (boundary and streets, a
GeoJSON that console.js loads from `outline_url` and registers), the reports as points, one
series per kind, each kind with its own shape as well as its own colour so no one needs colour
to tell them apart, and a density layer (a heatmap on the same map) beneath them. A division
with no map, or nothing in the window, says so in words."""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from mdm_server.console.charts import FONT, INK, LINE, PALETTE, empty_state, placeholder
from mdm_server.geo.schemas import DivisionMapView
from mdm_server.geo.service import filing_kinds

SHAPES = ("circle", "triangle", "diamond", "rect", "pin", "roundRect", "arrow")
SHAPE_WORDS = {
    "circle": "circle",
    "triangle": "triangle",
    "diamond": "diamond",
    "rect": "square",
    "pin": "pin",
    "roundRect": "rounded square",
    "arrow": "arrow",
}
DENSITY = ("#fff5eb", "#fdbe85", "#e6550d", "#8c2d04")  # light to dark: where reports gather
MAP_PX = 520


_SHAPE_SVG = {
    "circle": '<circle cx="7" cy="7" r="6" fill="{}"/>',
    "triangle": '<polygon points="7,1 13,13 1,13" fill="{}"/>',
    "diamond": '<polygon points="7,0 14,7 7,14 0,7" fill="{}"/>',
    "rect": '<rect x="1" y="1" width="12" height="12" fill="{}"/>',
}


def swatch(shape: str, colour: str) -> Markup:
    """The kind's shape in its colour, as the map draws it, for the table beside the map."""
    drawing = _SHAPE_SVG.get(shape, '<rect x="1" y="1" width="12" height="12" rx="3" fill="{}"/>')
    return Markup(  # noqa: S704 - fixed drawings; the colour is escaped by format
        '<svg class="swatch" width="14" height="14" aria-hidden="true" focusable="false">'
        + drawing
        + "</svg>"
    ).format(colour)


def kind_words(kind: str) -> str:
    return kind.replace("_", " ")


def key_of(kinds: list[str]) -> list[tuple[str, str, str]]:
    """Each kind with its colour and shape, as the chart and the table beside it show them:
    the same for a kind whichever others are shown with it."""
    every = list(filing_kinds())
    places = [every.index(kind) if kind in every else len(every) for kind in kinds]
    return [
        (kind, PALETTE[n % len(PALETTE)], SHAPES[n % len(SHAPES)])
        for kind, n in zip(kinds, places, strict=True)
    ]


def map_chart(view: DivisionMapView) -> Markup:
    """The division's reports on its map, or words saying why there is none."""
    if view.outline_url is None:
        return empty_state(f"There is no map of division {view.division} on this server.")
    if not view.points:
        return empty_state("No reports with a place in this period.")
    series: list[dict[str, Any]] = [
        {
            "type": "heatmap",
            "name": "density",
            "coordinateSystem": "geo",
            "pointSize": 20,
            "blurSize": 28,
            "data": [[p.longitude, p.latitude, 1] for p in view.points],
        }
    ]
    for kind, colour, shape in key_of(view.kinds):
        points = [[p.longitude, p.latitude] for p in view.points if p.kind == kind]
        if points:
            series.append(
                {
                    "type": "scatter",
                    "name": kind_words(kind),
                    "coordinateSystem": "geo",
                    "symbol": shape,
                    "symbolSize": 13,
                    "itemStyle": {"color": colour, "borderColor": "#ffffff", "borderWidth": 1.5},
                    "data": points,
                }
            )
    text = {"color": INK, "fontFamily": FONT, "fontSize": 12}
    option: dict[str, Any] = {
        "geo": {
            "map": view.division,
            "roam": False,
            "silent": True,
            "layoutCenter": ["50%", "46%"],
            "layoutSize": "88%",
            # Street names are left off: at a division's scale they sit on one another.
            "label": {"show": False},
            "itemStyle": {"areaColor": "#f4f6f9", "borderColor": LINE, "borderWidth": 2},
        },
        "legend": {
            "bottom": 4,
            "textStyle": text,
            "data": [kind_words(kind) for kind, _, _ in key_of(view.kinds)],
        },
        "visualMap": {
            "type": "continuous",
            "seriesIndex": 0,
            "min": 0,
            "max": 3,
            "show": False,
            "inRange": {"color": list(DENSITY), "opacity": [0.25, 0.85]},
        },
        "series": series,
    }
    counts = "; ".join(f"{kind_words(one.kind)}: {one.placed}" for one in view.counts)
    description = f"{len(view.points)} reports placed on the map of {view.name}; {counts}"
    chart = placeholder(f"Reports in {view.name}", description, option, height=MAP_PX)
    geo = Markup(' data-geo-name="{}" data-geo-url="{}"').format(view.division, view.outline_url)
    return Markup(  # noqa: S704 - chart and geo are escaped where they are made
        str(chart).replace('<div class="chart"', '<div class="chart map"' + str(geo), 1)
    )
