"""Charts as ECharts options the browser draws: figures in order, the newest bucket last and
marked while it runs, refused transactions apart from the stack, an empty chart in words,
labels escaped, every figure in the accessible name, and nothing a strict CSP would refuse."""

from __future__ import annotations

import json
import math
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


def figures(series: dict[str, Any]) -> list[int]:
    """A series' figures, whether or not each carries a look of its own."""
    return [one["value"] if isinstance(one, dict) else one for one in series["data"]]


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

    def test_no_bar_says_so_in_words_not_an_empty_axis(self) -> None:
        markup = bar_chart("Models", [], empty="No devices.")
        assert "data-chart" not in markup
        assert markup == '<p class="muted empty" data-empty>No devices.</p>'


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
        assert [figures(one) for one in chart["option"]["series"]] == [[1, 0, 4], [1, 1, 0]]
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

    def test_what_is_apart_is_hollow_columns_beside_the_stack_never_on_it(self) -> None:
        markup, attrs, chart = self.chart(apart=Series("refused (not counted)", [0, 3, 1]))
        *stacked, apart = chart["option"]["series"]
        assert apart["type"] == "bar" and figures(apart) == [0, 3, 1]
        assert apart["stack"] not in {one["stack"] for one in stacked}  # beside, not on top
        assert apart["itemStyle"]["color"] == "#ffffff"  # hollow,
        assert apart["itemStyle"]["color"] not in {one["itemStyle"]["color"] for one in stacked}
        nothing, *some = apart["data"]
        assert nothing == 0  # no column, so no edge drawn along the axis
        assert {one["itemStyle"]["borderColor"] for one in some} == {"#1b1f24"}  # edged in ink
        assert "7 in all" in (attrs["aria-label"] or "")  # the refused are not added
        assert (attrs["aria-label"] or "").endswith("refused (not counted): 4 in all")
        legend = [text for text in Elements(markup).text if text.strip()]
        assert legend == ["person search", "vehicle search", "refused (not counted)"]
        no_inline_style_or_script(markup)

    def test_the_running_bucket_is_drawn_lighter_and_labelled_so_far(self) -> None:
        markup, attrs, chart = self.chart(
            apart=Series("refused (not counted)", [0, 3, 1]), so_far="today"
        )
        option = chart["option"]
        assert option["xAxis"]["data"] == ["Mon 01 Dec", "Tue 02 Dec", "Wed 03 Dec so far"]
        person, vehicle, apart = option["series"]
        assert person["data"][:2] == [1, 0]  # finished days: drawn as usual
        for one in (person, apart):
            assert one["data"][-1]["itemStyle"]["borderType"] == "dashed"
        assert person["data"][-1]["itemStyle"]["borderColor"] == person["itemStyle"]["color"]
        assert vehicle["data"][-1] == 0  # none yet today: nothing drawn
        assert [figures(one) for one in (person, vehicle, apart)] == [
            [1, 0, 4],
            [1, 1, 0],
            [0, 3, 1],
        ]
        lighter = person["data"][-1]["itemStyle"]["color"]
        assert lighter != person["itemStyle"]["color"]
        assert int(lighter[1:3], 16) > int(person["itemStyle"]["color"][1:3], 16)  # towards white
        assert "Wed 03 Dec so far: 4" in (attrs["aria-label"] or "")
        legend = [text for text in Elements(markup).text if text.strip()]
        assert legend[-1] == "today, so far (lighter)"
        no_inline_style_or_script(markup)

    def test_nothing_to_draw_says_so_in_words_not_an_empty_axis(self) -> None:
        quiet = column_chart(
            "Per day",
            ["Mon 01 Dec", "Tue 02 Dec"],
            [Series("missing person", [0, 0])],
            axis="Day (UTC)",
            empty="No transactions in this period.",
        )
        assert quiet == '<p class="muted empty" data-empty>No transactions in this period.</p>'
        refused_only = column_chart(
            "Per day",
            ["Mon 01 Dec", "Tue 02 Dec"],
            [Series("person search", [0, 0])],
            axis="Day (UTC)",
            apart=Series("refused (not counted)", [0, 2]),
        )
        assert "data-chart" in refused_only  # a refusal is something to see

    def test_many_buckets_close_up_so_each_column_stays_visible(self) -> None:
        labels = [f"day {day}" for day in range(1, 91)]
        markup = column_chart(
            "90 days", labels, [Series("person search", [1] * 90)], axis="Day (UTC)"
        )
        _, chart = Elements(markup).chart()
        assert chart["option"]["series"][0]["barCategoryGap"] == "10%"
        markup = column_chart(
            "90 days", labels, [Series("person search", [1] * 90)], axis="Day (UTC)", so_far="today"
        )
        _, chart = Elements(markup).chart()
        newest = chart["option"]["series"][0]["data"][-1]["itemStyle"]
        assert "borderType" not in newest  # too narrow for an edge: lighter, and labelled
        assert chart["option"]["xAxis"]["data"][-1] == "day 90 so far"
        _, few = Elements(self.chart()[0]).chart()
        assert "barCategoryGap" not in few["option"]["series"][0]

    def test_the_axis_name_has_room_under_the_longest_label(self) -> None:
        _, _, chart = self.chart(so_far="today")  # the longest label: "Wed 03 Dec so far"
        option = chart["option"]
        grid, x = option["grid"], option["xAxis"]
        assert not grid.get("containLabel")  # reckoned here, the axis name included
        longest = len("Wed 03 Dec so far") * 7.2 * math.sin(math.radians(45))
        assert x["nameGap"] > longest  # the name clear of the rotated labels
        assert grid["bottom"] >= x["nameGap"] + 16  # and inside the chart, not cut off
        assert chart["height"] == grid["top"] + grid["bottom"] + 200
        assert chart["thin"]["reserved"] == grid["left"] + grid["right"]

    def test_the_tooltip_is_drawn_in_the_chart_not_as_html(self) -> None:
        # ECharts' HTML tooltip writes style attributes the console's CSP refuses.
        _, _, chart = self.chart(apart=Series("refused (not counted)", [0, 3, 1]))
        tooltip = chart["option"]["tooltip"]
        assert tooltip["renderMode"] == "richText"
        assert tooltip["formatter"] == "{b0} (UTC)\n{a0}: {c0}\n{a1}: {c1}\n{a2}: {c2}"
