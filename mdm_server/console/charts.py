"""Charts as SVG drawn on the server: no script, no request anywhere, readable without colour.

Each chart is an `<svg role="img">` with a `<title>` and `<desc>` for screen readers, and every
bar carries its number as text, so the chart does not depend on colour or hover. Pages show a
table of the same figures beside each chart."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

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


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    tone: str = "info"


def _attr(value: object) -> str:
    return escape(str(value), quote=True)


def bar_chart(title: str, bars: Sequence[Bar], *, width: int = 360) -> Markup:
    """Horizontal bars, one per label, each with its count written beside it."""
    row, label_w, gap = 26, 120, 6
    height = max(1, len(bars)) * row + 8
    top = max((bar.value for bar in bars), default=0) or 1
    span = width - label_w - 50
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" '
        f'xmlns="http://www.w3.org/2000/svg" focusable="false">',
        f"<title>{_attr(title)}</title>",
        "<desc>"
        + _attr("; ".join(f"{bar.label}: {bar.value}" for bar in bars) or "no data")
        + "</desc>",
    ]
    for index, bar in enumerate(bars):
        y = 4 + index * row
        length = round(span * bar.value / top) if bar.value else 0
        colour = TONES.get(bar.tone, bar.tone)
        parts.append(
            f'<text x="{label_w - gap}" y="{y + 17}" text-anchor="end">{_attr(bar.label)}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{max(length, 1)}" height="{row - 8}" '
            f'fill="{_attr(colour)}"/>'
            f'<text x="{label_w + length + gap}" y="{y + 17}">{bar.value:,}</text>'
        )
    if not bars:
        parts.append(f'<text x="{label_w}" y="20">No data yet</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated value is escaped above


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[int]


def column_chart(
    title: str, labels: Sequence[str], series: Sequence[Series], *, width: int = 720
) -> Markup:
    """Stacked columns over time (hours or days), with a legend and a value axis."""
    height, left, bottom, top_pad = 260, 44, 40, 16
    plot_w, plot_h = width - left - 10, height - bottom - top_pad
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    tick = max(1, math.ceil(max(totals, default=0) / 4))  # whole numbers on the axis
    top = tick * 4
    step = plot_w / max(1, len(labels))
    bar_w = max(2.0, step * 0.7)
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height + 24 * len(series)}" '
        f'xmlns="http://www.w3.org/2000/svg" focusable="false">',
        f"<title>{_attr(title)}</title>",
        "<desc>"
        + _attr("; ".join(f"{label}: {total}" for label, total in zip(labels, totals, strict=True)))
        + "</desc>",
    ]
    for step in range(5):
        value = tick * step
        y = top_pad + plot_h - plot_h * step / 4
        parts.append(
            f'<line x1="{left}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}" stroke="#c9d1dc"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{value:,}</text>'
        )
    label_every = max(1, math.ceil(len(labels) / 8))
    for index, label in enumerate(labels):
        x = left + index * step + (step - bar_w) / 2
        base = float(top_pad + plot_h)
        for number, one in enumerate(series):
            value = one.values[index]
            if not value:
                continue
            h = plot_h * value / top
            base -= h
            colour = PALETTE[number % len(PALETTE)]
            parts.append(
                f'<rect x="{x:.1f}" y="{base:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                f'fill="{colour}"><title>{_attr(one.name)}, {_attr(label)}: {value}</title></rect>'
            )
        if index % label_every == 0:
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{top_pad + plot_h + 16}" '
                f'text-anchor="middle">{_attr(label)}</text>'
            )
    for number, one in enumerate(series):
        y = height + 24 * number
        colour = PALETTE[number % len(PALETTE)]
        parts.append(
            f'<rect x="{left}" y="{y - 12}" width="14" height="14" fill="{colour}"/>'
            f'<text x="{left + 20}" y="{y}">{_attr(one.name)} ({sum(one.values):,})</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated value is escaped above
