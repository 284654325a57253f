"""Charts as ECharts options the browser draws: figures in order, the newest bucket last,
refused transactions apart from the stack, labels escaped, every figure in the accessible
name, and nothing a strict CSP would refuse."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from typing import Any

from mdm_server.console.charts import Bar, Series, bar_chart, column_chart


class Elements(HTMLParser):
    """Each element's tag and attributes, in document order."""

    def __init__(self, markup: str) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(markup)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def chart(self) -> tuple[dict[str, str | None], dict[str, Any]]:
        (attrs,) = [attrs for tag, attrs in self.found if "data-chart" in attrs]
        return attrs, json.loads(attrs["data-chart"] or "")


def no_inline_style_or_script(markup: str) -> None:
    tags = Elements(markup).found
    assert all("style" not in attrs for _, attrs in tags)
    assert all(tag != "script" for tag, _ in tags)
    assert not any(name.startswith("on") for _, attrs in tags for name in attrs)


class TestBarChart:
    def test_bars_in_order_each_with_its_number_and_named_for_screen_readers(self) -> None:
        markup = bar_chart(
            "Compliance", [Bar("compliant", 9_500, "good"), Bar("non compliant", 12, "bad")]
        )
        attrs, chart = Elements(markup).chart()
        assert attrs["role"] == "img"
        assert attrs["aria-label"] == "Compliance. compliant: 9,500; non compliant: 12"
        option = chart["option"]
        assert option["yAxis"]["data"] == ["compliant", "non compliant"]
        assert option["yAxis"]["inverse"] is True  # the first at the top
        (series,) = option["series"]
        assert [bar["value"] for bar in series["data"]] == [9_500, 12]
        assert [bar["itemStyle"]["color"] for bar in series["data"]] == ["#1e6b37", "#a4161a"]
        assert series["label"]["show"] is True  # the number is written, not told by length
        assert chart["height"] > 0 and option["animation"] is False
        no_inline_style_or_script(markup)

    def test_a_hostile_label_is_data_not_markup(self) -> None:
        hostile = '<script>alert("x")</script>\'&'
        markup = bar_chart(hostile, [Bar(hostile, 1, tone='"><script>')])
        assert "<script>" not in markup
        attrs, chart = Elements(markup).chart()
        assert chart["option"]["yAxis"]["data"] == [hostile]
        assert attrs["aria-label"] == f"{hostile}. {hostile}: 1"
        no_inline_style_or_script(markup)

    def test_no_data_says_so(self) -> None:
        assert "No data yet" in bar_chart("Models", [])


class TestColumnChart:
    def chart(self, **apart: Any) -> tuple[str, dict[str, str | None], dict[str, Any]]:
        markup = column_chart(
            "Per day",
            ["Mon 01 Dec", "Tue 02 Dec", "Wed 03 Dec"],
            [Series("person search", [1, 0, 4]), Series("vehicle search", [1, 1, 0])],
            axis="Day (UTC)",
            **apart,
        )
        attrs, chart = Elements(markup).chart()
        return markup, attrs, chart

    def test_oldest_first_so_the_newest_is_at_the_right_edge(self) -> None:
        _, _, chart = self.chart()
        x = chart["option"]["xAxis"]
        assert x["type"] == "category" and not x.get("inverse")
        assert x["data"] == ["Mon 01 Dec", "Tue 02 Dec", "Wed 03 Dec"]
        assert [one["data"] for one in chart["option"]["series"]] == [[1, 0, 4], [1, 1, 0]]
        assert x["axisTick"]["alignWithLabel"] is True  # each column over its own label
        assert x["name"] == "Day (UTC)"
        assert chart["thin"]["count"] == 3  # console.js keeps labels from the newest back

    def test_columns_stack_on_a_whole_number_axis(self) -> None:
        _, attrs, chart = self.chart()
        assert {one["stack"] for one in chart["option"]["series"]} == {"total"}
        assert chart["option"]["yAxis"]["minInterval"] == 1
        assert attrs["aria-label"] == (
            "Per day. 7 in all; Mon 01 Dec: 2; Tue 02 Dec: 1; Wed 03 Dec: 4"
        )

    def test_what_is_apart_is_a_line_never_in_the_stack(self) -> None:
        markup, attrs, chart = self.chart(apart=Series("refused (not counted)", [0, 3, 1]))
        *_, line = chart["option"]["series"]
        assert line["type"] == "line" and "stack" not in line
        assert line["data"] == [0, 3, 1]
        assert "7 in all" in (attrs["aria-label"] or "")  # the refused are not added
        assert (attrs["aria-label"] or "").endswith("refused (not counted): 4 in all")
        legend = [text for text in Elements(markup).text if text.strip()]
        assert legend == ["person search", "vehicle search", "refused (not counted)"]
        no_inline_style_or_script(markup)

    def test_the_tooltip_is_drawn_in_the_chart_not_as_html(self) -> None:
        # ECharts' HTML tooltip writes style attributes the console's CSP refuses.
        _, _, chart = self.chart(apart=Series("refused (not counted)", [0, 3, 1]))
        tooltip = chart["option"]["tooltip"]
        assert tooltip["renderMode"] == "richText"
        assert tooltip["formatter"] == "{b0} (UTC)\n{a0}: {c0}\n{a1}: {c1}\n{a2}: {c2}"
