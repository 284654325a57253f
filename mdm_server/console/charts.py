"""Charts: the server decides what to draw, Apache ECharts draws it in the browser.

ECharts (static/vendor/echarts/, served by Tabard itself) reads each chart's option from the
`data-chart` attribute of an empty `<div>`; `console.js` loads the library when a page (or an
htmx fragment) holds a chart and draws every one with the SVG renderer. No inline script and
no style attribute is written, so the console's Content Security Policy stays strict.

Each chart is `role="img"` with a label that says its title and every figure, for screen
readers; horizontal bars carry their number as text, so nothing depends on colour or hover;
pages show a table of the same figures beside each chart. Columns over time run oldest first,
so the newest bucket is at the right edge, each column over its own label."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from markupsafe import Markup

# Colours with at least 3:1 contrast against white (WCAG 2.2 non-text contrast), in an order
# that stays distinguishable for the common colour-vision deficiencies.
PALETTE = ("#1d5fa8", "#c25400", "#1e7b45", "#8e2c8e", "#a4161a", "#4a5563", "#6b5200")
TONES = {
    "good": "#1e6b37",
    "warn": "#a35a00",
    "bad": "#a4161a",
    "info": "#1d5fa8",
    "muted": "#5a6472",
}
INK, MUTED, LINE = "#1b1f24", "#4a5563", "#c9d1dc"
FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif'
APART = INK  # the series shown apart from the stack (refused transactions): a dashed line
ROW_PX, COLUMNS_PX = 34, 300
CHAR_PX = 7.2  # the width of a 12 px label's average character
LABEL_ROTATION = 45
LABEL_SPACING_PX = 22  # between rotated labels' baselines, so no two touch
VALUE_AXIS_PX = 70  # the value axis, its labels and the margins: not room for columns
DOTS_UP_TO = 31  # buckets, past which a line drawn apart is a line without a dot on each


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    tone: str = "info"


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[int]


def _text_style(size: int = 13) -> dict[str, Any]:
    return {"color": INK, "fontFamily": FONT, "fontSize": size}


def _rotated_px(labels: Sequence[str]) -> int:
    """How far the longest label reaches below the axis once rotated."""
    longest = max((len(label) for label in labels), default=0) * CHAR_PX
    return math.ceil(longest * math.sin(math.radians(LABEL_ROTATION)) + 12)


def _chart(
    title: str,
    description: str,
    option: dict[str, Any],
    height: int,
    *,
    thin: dict[str, int] | None = None,
) -> Markup:
    """The chart's placeholder: its accessible name, its height, its ECharts option, and
    how console.js thins its time axis's labels (`thin`, for column charts)."""
    option = {"animation": False, "textStyle": _text_style(), **option}
    drawing: dict[str, Any] = {"height": height, "option": option}
    if thin is not None:
        drawing["thin"] = thin
    data = json.dumps(drawing, separators=(",", ":"))
    label = f"{title}. {description}" if description else title
    return Markup(  # noqa: S704 - every interpolated value is escaped here
        f'<div class="chart" role="img" aria-label="{escape(label)}" '
        f'data-chart="{escape(data)}"></div>'
    )


def bar_chart(title: str, bars: Sequence[Bar]) -> Markup:
    """Horizontal bars, one per label (first at the top), each with its count written beside
    it."""
    if not bars:
        return Markup('<p class="muted">No data yet.</p>')
    option = {
        "grid": {"left": 8, "right": 56, "top": 4, "bottom": 4, "containLabel": True},
        "xAxis": {"type": "value", "show": False, "minInterval": 1},
        "yAxis": {
            "type": "category",
            "inverse": True,
            "data": [bar.label for bar in bars],
            "axisTick": {"show": False},
            "axisLine": {"lineStyle": {"color": LINE}},
            "axisLabel": {**_text_style(), "width": 140, "overflow": "truncate"},
        },
        "series": [
            {
                "type": "bar",
                "barMaxWidth": 22,
                "label": {"show": True, "position": "right", **_text_style()},
                "data": [
                    {"value": bar.value, "itemStyle": {"color": TONES.get(bar.tone, bar.tone)}}
                    for bar in bars
                ],
            }
        ],
    }
    description = "; ".join(f"{bar.label}: {bar.value:,}" for bar in bars)
    return _chart(title, description, option, height=len(bars) * ROW_PX + 8)


def _legend(keys: Sequence[tuple[str, str, bool]]) -> str:
    """The legend as a list under the chart, wrapping as the page narrows: each key's swatch
    (an SVG presentation attribute, which the CSP allows where a style attribute is not) and
    its name."""
    items = []
    for name, colour, line in keys:
        mark = (
            f'<line x1="0" y1="7" x2="16" y2="7" stroke="{escape(colour)}" stroke-width="2" '
            f'stroke-dasharray="4 2"/><circle cx="8" cy="7" r="3.5" fill="{escape(colour)}"/>'
            if line
            else f'<rect width="16" height="14" rx="2" fill="{escape(colour)}"/>'
        )
        items.append(
            f'<li><svg class="swatch" width="16" height="14" aria-hidden="true" '
            f'focusable="false">{mark}</svg>{escape(name)}</li>'
        )
    return f'<ul class="legend">{"".join(items)}</ul>'


def column_chart(
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    axis: str,
    zone: str = "UTC",
    apart: Series | None = None,
) -> Markup:
    """Stacked columns over time, oldest first, so the newest is at the right edge, each over
    its own label, with a legend and a whole-number value axis. `axis` names the time axis
    (and its zone); `apart` is drawn as a dashed line over the columns, never added to their
    stack; the tooltip names each bucket with its `zone`. Where the chart is too narrow for
    every label, console.js keeps every n-th counting back from the newest, which is always
    labelled (`thin`)."""
    totals = [sum(one.values[i] for one in series) for i in range(len(labels))]
    colours = [PALETTE[number % len(PALETTE)] for number in range(len(series))]
    drawn: list[dict[str, Any]] = [
        {
            "type": "bar",
            "name": one.name,
            "stack": "total",
            "barMaxWidth": 40,
            "itemStyle": {"color": colour},
            "data": list(one.values),
        }
        for one, colour in zip(series, colours, strict=True)
    ]
    keys = [(one.name, colour, False) for one, colour in zip(series, colours, strict=True)]
    if apart is not None:
        drawn.append(
            {
                "type": "line",
                "name": apart.name,
                "symbol": "circle",
                "symbolSize": 7,
                "showSymbol": len(labels) <= DOTS_UP_TO,  # a dot per bucket, while they fit
                "itemStyle": {"color": APART},
                "lineStyle": {"color": APART, "type": "dashed", "width": 2},
                "data": list(apart.values),
            }
        )
        keys.append((apart.name, APART, True))
    option = {
        # Drawn in the chart (richText), not as HTML with style attributes the CSP refuses;
        # the bucket named with its zone, then each series' figure.
        "tooltip": {
            "trigger": "axis",
            "renderMode": "richText",
            "textStyle": _text_style(),
            "formatter": "\n".join(
                [f"{{b0}} ({zone})", *(f"{{a{n}}}: {{c{n}}}" for n in range(len(drawn)))]
            ),
        },
        # The labels' room is kept by containLabel; the axis name's, under them, by `bottom`.
        "grid": {"left": 8, "right": 16, "top": 16, "bottom": 28, "containLabel": True},
        "xAxis": {
            "type": "category",
            "data": list(labels),
            "name": axis,
            "nameLocation": "middle",
            "nameGap": _rotated_px(labels) + 16,
            "nameTextStyle": _text_style(),
            "axisTick": {"alignWithLabel": True, "interval": 0},
            "axisLine": {"lineStyle": {"color": MUTED}},
            "axisLabel": {**_text_style(12), "rotate": LABEL_ROTATION, "interval": 0},
        },
        "yAxis": {
            "type": "value",
            "minInterval": 1,
            "splitLine": {"lineStyle": {"color": LINE}},
            "axisLabel": _text_style(12),
        },
        "series": drawn,
    }
    figures = "; ".join(
        f"{label}: {total:,}" for label, total in zip(labels, totals, strict=True) if total
    )
    description = f"{sum(totals):,} in all" + (f"; {figures}" if figures else "")
    if apart is not None:
        description += f". {apart.name}: {sum(apart.values):,} in all"
    thin = {"count": len(labels), "px": LABEL_SPACING_PX, "reserved": VALUE_AXIS_PX}
    chart = _chart(title, description, option, height=COLUMNS_PX, thin=thin)
    return chart + Markup(_legend(keys))  # noqa: S704 - _legend escapes every value
