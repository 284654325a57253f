"""Charts: the server decides what to draw, Apache ECharts draws it in the browser.

ECharts (static/vendor/echarts/, served by Tabard itself) reads each chart's option from the
`data-chart` attribute of an empty `<div>`; `console.js` loads the library when a page (or an
htmx fragment) holds a chart and draws every one with the SVG renderer. No inline script and
no style attribute is written, so the console's Content Security Policy stays strict.

Each chart is `role="img"` with a label that says its title and every figure, for screen
readers; horizontal bars carry their number as text, so nothing depends on colour or hover;
pages show a table of the same figures beside each chart. Columns over time run oldest first,
so the newest bucket is at the right edge, each column over its own label, and that bucket,
still running, is marked "so far". A chart with nothing to draw says so in words."""

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
# The series shown apart from the stack (refused transactions): hollow columns beside it,
# outlined in ink, a colour no stacked series has.
APART, PAPER = INK, "#ffffff"
SO_FAR_TINT = 0.6  # how far towards white the newest, still running, bucket is drawn
EDGE_PX = 1.5  # a hollow or running column's edge
ROW_PX = 34  # a horizontal bar's row
PLOT_PX, MARGIN_PX, NAME_PX = 200, 16, 18  # columns' own height; the margins; an axis name
CHAR_PX = 7.2  # the width of a 12 px label's average character
LABEL_ROTATION = 45
LABEL_SPACING_PX = 22  # between rotated labels' baselines, so no two touch
MANY = 32  # buckets, from which columns are too narrow for an edge: the gap narrows instead


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    tone: str = "info"


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[int]


def text_style(size: int = 13) -> dict[str, Any]:
    return {"color": INK, "fontFamily": FONT, "fontSize": size}


def _rotated_px(labels: Sequence[str]) -> int:
    """How far the longest label reaches below the axis once rotated."""
    longest = max((len(label) for label in labels), default=0) * CHAR_PX
    return math.ceil(longest * math.sin(math.radians(LABEL_ROTATION)) + 12)


def placeholder(
    title: str,
    description: str,
    option: dict[str, Any],
    height: int,
    *,
    thin: dict[str, int] | None = None,
) -> Markup:
    """The chart's placeholder: its accessible name, its height, its ECharts option, and
    how console.js thins its time axis's labels (`thin`, for column charts)."""
    option = {"animation": False, "textStyle": text_style(), **option}
    drawing: dict[str, Any] = {"height": height, "option": option}
    if thin is not None:
        drawing["thin"] = thin
    data = json.dumps(drawing, separators=(",", ":"))
    label = f"{title}. {description}" if description else title
    return Markup(  # noqa: S704 - every interpolated value is escaped here
        f'<div class="chart" role="img" aria-label="{escape(label)}" '
        f'data-chart="{escape(data)}"></div>'
    )


def empty_state(words: str) -> Markup:
    """What a chart with nothing to draw shows instead of an empty axis."""
    return Markup('<p class="muted empty" data-empty>{}</p>').format(words)


def bar_chart(title: str, bars: Sequence[Bar], *, empty: str = "Nothing to count yet.") -> Markup:
    """Horizontal bars, one per label (first at the top), each with its count written beside
    it; `empty` in words when there is no bar."""
    if not bars:
        return empty_state(empty)
    option = {
        "grid": {"left": 8, "right": 56, "top": 4, "bottom": 4, "containLabel": True},
        "xAxis": {"type": "value", "show": False, "minInterval": 1},
        "yAxis": {
            "type": "category",
            "inverse": True,
            "data": [bar.label for bar in bars],
            "axisTick": {"show": False},
            "axisLine": {"lineStyle": {"color": LINE}},
            "axisLabel": {**text_style(), "width": 140, "overflow": "truncate"},
        },
        "series": [
            {
                "type": "bar",
                "barMaxWidth": 22,
                "label": {"show": True, "position": "right", **text_style()},
                "data": [
                    {"value": bar.value, "itemStyle": {"color": TONES.get(bar.tone, bar.tone)}}
                    for bar in bars
                ],
            }
        ],
    }
    description = "; ".join(f"{bar.label}: {bar.value:,}" for bar in bars)
    return placeholder(title, description, option, height=len(bars) * ROW_PX + 8)


@dataclass(frozen=True)
class _Key:
    """A legend entry: its words and how its swatch is drawn."""

    name: str
    fill: str
    edge: str | None = None
    dashed: bool = False
    line: bool = False  # a dashed line through diamonds, not a block


LINE_SWATCH = (
    '<line x1="0" y1="7" x2="16" y2="7" stroke="{colour}" stroke-width="2" '
    'stroke-dasharray="4 2"/><path d="M8 2.5 L12.5 7 L8 11.5 L3.5 7 Z" fill="{colour}"/>'
)


def _legend(keys: Sequence[_Key]) -> str:
    """The legend as a list under the chart, wrapping as the page narrows: each key's swatch
    (an SVG presentation attribute, which the CSP allows where a style attribute is not) and
    its name."""
    items = []
    for key in keys:
        if key.line:
            items.append(
                '<li><svg class="swatch" width="16" height="14" aria-hidden="true" '
                f'focusable="false">{LINE_SWATCH.format(colour=escape(key.fill))}</svg>'
                f"{escape(key.name)}</li>"
            )
            continue
        edge = (
            f' stroke="{escape(key.edge)}" stroke-width="1.5"'
            + (' stroke-dasharray="3 2"' if key.dashed else "")
            if key.edge
            else ""
        )
        items.append(
            f'<li><svg class="swatch" width="16" height="14" aria-hidden="true" '
            f'focusable="false"><rect x="1" y="1" width="14" height="12" rx="2" '
            f'fill="{escape(key.fill)}"{edge}/></svg>{escape(key.name)}</li>'
        )
    return f'<ul class="legend">{"".join(items)}</ul>'


def _tint(colour: str, share: float = SO_FAR_TINT) -> str:
    """`colour` moved `share` of the way towards white."""
    red, green, blue = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return "#" + "".join(f"{round(part + (255 - part) * share):02x}" for part in (red, green, blue))


def _figures(
    values: Sequence[int],
    *,
    edge: dict[str, Any] | None = None,
    newest: dict[str, Any] | None = None,
) -> list[Any]:
    """A series' figures as ECharts draws them: `edge` on each column with a height (a column
    of none draws nothing, not a line along the axis), and `newest`'s look on the newest."""
    figures: list[Any] = []
    for number, value in enumerate(values):
        style = dict(edge or {}) if value else {}
        if newest is not None and value and number == len(values) - 1:
            style.update(newest)
        figures.append({"value": value, "itemStyle": style} if style else value)
    return figures


def _line(series: Series) -> dict[str, Any]:
    """A series drawn as a dashed line through a diamond at each bucket, in ink, over the
    columns."""
    return {
        "type": "line",
        "name": series.name,
        "symbol": "diamond",
        "symbolSize": 9,
        "z": 5,
        "itemStyle": {"color": APART},
        "lineStyle": {"color": APART, "width": 2, "type": "dashed"},
        "data": list(series.values),
    }


def column_chart(
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    axis: str,
    zone: str = "UTC",
    apart: Series | None = None,
    beside: Series | None = None,
    so_far: str | None = None,
    empty: str = "Nothing in this period.",
) -> Markup:
    """Stacked columns over time, oldest first, so the newest is at the right edge, each over
    its own label, with a legend and a whole-number value axis. `axis` names the time axis
    (and its zone); `apart` is drawn as hollow columns beside the stack, never added to it;
    `beside` (the same hours a week before, say) as a dashed line through diamonds over the
    columns, told from them by its shape as well as its colour;
    `so_far` names the newest bucket while it is still running (`this hour`, `today`), drawn
    lighter with a dashed edge and labelled "so far", so a bucket half counted does not read
    as a fall. With nothing to draw, `empty` says so in words. The tooltip names each bucket
    with its `zone`. Where the chart is too narrow for every label, console.js keeps every
    n-th counting back from the newest, which is always labelled (`thin`)."""
    totals = [sum(one.values[i] for one in series) for i in range(len(labels))]
    extra = [one for one in (apart, beside) if one is not None]
    if not any(totals) and not any(any(one.values) for one in extra):
        return empty_state(empty)
    labels = list(labels)
    if so_far is not None:
        labels[-1] = f"{labels[-1]} so far"
    colours = [PALETTE[number % len(PALETTE)] for number in range(len(series))]
    roomy = len(labels) < MANY  # columns wide enough for a dashed edge to read as one
    dashed = {"borderWidth": EDGE_PX, "borderType": "dashed"} if roomy else {}
    drawn: list[dict[str, Any]] = [
        {
            "type": "bar",
            "name": one.name,
            "stack": "total",
            "barMaxWidth": 40,
            "itemStyle": {"color": colour},
            "data": _figures(
                one.values,
                newest={"color": _tint(colour), "borderColor": colour, **dashed}
                if so_far is not None
                else None,
            ),
        }
        for one, colour in zip(series, colours, strict=True)
    ]
    keys = [_Key(one.name, colour) for one, colour in zip(series, colours, strict=True)]
    if apart is not None:
        drawn.append(
            {
                "type": "bar",
                "name": apart.name,
                "stack": "apart",  # its own stack: beside the answered columns, never on them
                "barMaxWidth": 40,
                "itemStyle": {"color": PAPER},
                "data": _figures(
                    apart.values,
                    edge={"borderColor": APART, "borderWidth": EDGE_PX},
                    newest=dashed if so_far is not None else None,
                ),
            }
        )
        keys.append(_Key(apart.name, PAPER, APART))
    if beside is not None:
        drawn.append(_line(beside))
        keys.append(_Key(beside.name, APART, line=True))
    if so_far is not None:
        keys.append(
            _Key(
                f"{so_far}, so far (lighter)",
                _tint(PALETTE[0]),
                PALETTE[0] if roomy else None,
                roomy,
            )
        )
    if not roomy:
        drawn[0]["barCategoryGap"] = "10%"  # the gap is per axis: set on its first series
    # Room for the rotated labels and, under them, the axis name, reckoned from the labels
    # (not left to ECharts, which does not count the name), and for the value axis's labels.
    below = _rotated_px(labels)
    highest = max([*totals, *(value for one in extra for value in one.values)])
    value_px = math.ceil((len(f"{highest:,}") + 1) * CHAR_PX)  # +1: the axis rounds up
    grid = {
        "left": MARGIN_PX + value_px,
        "right": MARGIN_PX,
        "top": MARGIN_PX,
        "bottom": below + MARGIN_PX + NAME_PX,
    }
    option = {
        # Drawn in the chart (richText), not as HTML with style attributes the CSP refuses;
        # the bucket named with its zone, then each series' figure.
        "tooltip": {
            "trigger": "axis",
            "renderMode": "richText",
            "textStyle": text_style(),
            "formatter": "\n".join(
                [f"{{b0}} ({zone})", *(f"{{a{n}}}: {{c{n}}}" for n in range(len(drawn)))]
            ),
        },
        "grid": grid,
        "xAxis": {
            "type": "category",
            "data": labels,
            "name": axis,
            "nameLocation": "middle",
            "nameGap": below + MARGIN_PX,
            "nameTextStyle": text_style(),
            "axisTick": {"alignWithLabel": True, "interval": 0},
            "axisLine": {"lineStyle": {"color": MUTED}},
            "axisLabel": {**text_style(12), "rotate": LABEL_ROTATION, "interval": 0},
        },
        "yAxis": {
            "type": "value",
            "minInterval": 1,
            "splitLine": {"lineStyle": {"color": LINE}},
            "axisLabel": text_style(12),
        },
        "series": drawn,
    }
    figures = "; ".join(
        f"{label}: {total:,}" for label, total in zip(labels, totals, strict=True) if total
    )
    description = f"{sum(totals):,} in all" + (f"; {figures}" if figures else "")
    for one in extra:
        description += f". {one.name}: {sum(one.values):,} in all"
    thin = {"count": len(labels), "px": LABEL_SPACING_PX, "reserved": grid["left"] + grid["right"]}
    height = grid["top"] + PLOT_PX + grid["bottom"]
    chart = placeholder(title, description, option, height=height, thin=thin)
    return chart + Markup(_legend(keys))  # noqa: S704 - _legend escapes every value


@dataclass(frozen=True)
class Part:
    """One part of a stacked bar: its name, its counts (one per bar) and its tone."""

    name: str
    values: Sequence[int]
    tone: str


def stacked_bar_chart(
    title: str, labels: Sequence[str], parts: Sequence[Part], *, empty: str = "Nothing yet."
) -> Markup:
    """Horizontal bars, one per label (first at the top), each split into `parts` in order,
    every part's count written on it where it has room, the legend under the chart; `empty`
    in words when every count is nought."""
    if not any(any(part.values) for part in parts):
        return empty_state(empty)
    option = {
        "grid": {"left": 8, "right": 24, "top": 4, "bottom": 4, "containLabel": True},
        "xAxis": {"type": "value", "show": False, "minInterval": 1},
        "yAxis": {
            "type": "category",
            "inverse": True,
            "data": list(labels),
            "axisTick": {"show": False},
            "axisLine": {"lineStyle": {"color": LINE}},
            "axisLabel": {**text_style(), "width": 140, "overflow": "truncate"},
        },
        "series": [
            {
                "type": "bar",
                "name": part.name,
                "stack": "total",
                "barMaxWidth": 22,
                "itemStyle": {"color": TONES.get(part.tone, part.tone)},
                "label": {"show": True, "color": PAPER, "fontFamily": FONT, "fontSize": 12},
                "labelLayout": {"hideOverlap": True},
                "data": [value or None for value in part.values],
            }
            for part in parts
        ],
    }
    description = "; ".join(
        f"{label}: " + ", ".join(f"{part.values[i]:,} {part.name}" for part in parts)
        for i, label in enumerate(labels)
    )
    chart = placeholder(title, description, option, height=len(labels) * ROW_PX + 8)
    legend = _legend([_Key(part.name, TONES.get(part.tone, part.tone)) for part in parts])
    return chart + Markup(legend)  # noqa: S704 - _legend escapes every name
