"""A heatmap: counts over two categories (the hours of the day across, the days of the week
down), drawn by ECharts as charts.py draws its charts, under the same rules.

Each cell's count is its shade on one light-to-dark scale, with the scale drawn under the
grid from "fewer" to "more"; since a shade is hard to read exactly, the chart's accessible
name says the total and the busiest cells in words, and pages show the same figures in a
table beside it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup

from mdm_server.console.charts import FONT, INK, MARGIN_PX, NAME_PX, empty_state, placeholder
from mdm_server.console.charts import text_style as text

FEWEST, MOST = "#eef3f9", "#0b2e59"  # the scale's ends; the darkest holds 12:1 against white
CELL_PX = 30  # a row's height
SCALE_PX = 56  # the scale under the grid, with its words
LEFT_PX = 56  # the rows' names
BUSIEST = 3  # cells named in words


@dataclass(frozen=True)
class Cell:
    """One cell's place and count, named as a person would say it (`Fri 18:00`)."""

    column: int
    row: int
    count: int
    name: str


def busiest(cells: Sequence[Cell], n: int = BUSIEST) -> list[Cell]:
    """The `n` cells with the most, busiest first (ties in reading order); none that is
    empty."""
    ranked = sorted(cells, key=lambda cell: (-cell.count, cell.row, cell.column))
    return [cell for cell in ranked[:n] if cell.count]


def heatmap_chart(
    title: str,
    columns: Sequence[str],
    rows: Sequence[str],
    cells: Sequence[Cell],
    *,
    across: str,
    down: str,
    empty: str = "Nothing in this period.",
) -> Markup:
    """A grid of `rows` (first at the top) by `columns`, each cell shaded by its count on one
    scale from `FEWEST` to `MOST`, the axes named `across` and `down`; the accessible name
    says the total and the busiest cells. With every cell empty, `empty` in words."""
    total = sum(cell.count for cell in cells)
    if not total:
        return empty_state(empty)
    highest = max(cell.count for cell in cells)
    grid = {
        "left": LEFT_PX,
        "right": MARGIN_PX,
        "top": MARGIN_PX,
        "bottom": MARGIN_PX + 20 + NAME_PX + SCALE_PX,
    }
    option = {
        "tooltip": {
            "trigger": "item",
            "renderMode": "richText",
            "textStyle": text(),
            "formatter": "{b}",  # each cell's name carries its count: {c} is its place too
        },
        "grid": grid,
        "xAxis": {
            "type": "category",
            "data": list(columns),
            "name": across,
            "nameLocation": "middle",
            "nameGap": 30,
            "nameTextStyle": text(),
            "splitArea": {"show": False},
            "axisTick": {"show": False},
            "axisLine": {"show": False},
            "axisLabel": {**text(12), "interval": 0},
        },
        "yAxis": {
            "type": "category",
            "data": list(rows),
            "inverse": True,
            "name": down,
            "nameTextStyle": text(),
            "nameLocation": "start",
            "nameGap": 8,
            "axisTick": {"show": False},
            "axisLine": {"show": False},
            "axisLabel": text(12),
        },
        "visualMap": {
            "type": "continuous",
            "min": 0,
            "max": highest,
            "calculable": False,
            "orient": "horizontal",
            "left": "center",
            "bottom": 0,
            "itemHeight": 180,
            "itemWidth": 14,
            "text": [f"more ({highest:,})", "fewer (0)"],
            "textStyle": {"color": INK, "fontFamily": FONT, "fontSize": 12},
            "inRange": {"color": [FEWEST, MOST]},
        },
        "series": [
            {
                "type": "heatmap",
                "name": title,
                "itemStyle": {"borderColor": "#ffffff", "borderWidth": 1},
                "emphasis": {"disabled": True},
                "data": [
                    {
                        "name": f"{cell.name}: {cell.count:,}",
                        "value": [cell.column, cell.row, cell.count],
                    }
                    for cell in cells
                ],
            }
        ],
    }
    named = "; ".join(f"{cell.name}: {cell.count:,}" for cell in busiest(cells))
    description = f"{total:,} in all; busiest: {named}"
    height = grid["top"] + CELL_PX * len(rows) + grid["bottom"]
    return placeholder(title, description, option, height=height)
