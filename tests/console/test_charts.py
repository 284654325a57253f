"""Server-drawn SVG charts: labels escaped, every figure written out, whole-number axes."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from mdm_server.console.charts import Bar, Series, bar_chart, column_chart

SVG = "{http://www.w3.org/2000/svg}"


def parsed(markup: str) -> ET.Element:
    return ET.fromstring(markup)  # well-formed XML, or this raises


class TestBarChart:
    def test_every_bar_is_labelled_with_its_number_and_described(self) -> None:
        svg = parsed(bar_chart("Compliance", [Bar("compliant", 9_500), Bar("non compliant", 12)]))
        assert svg.get("role") == "img"
        assert svg.find(f"{SVG}title").text == "Compliance"
        assert svg.find(f"{SVG}desc").text == "compliant: 9500; non compliant: 12"
        texts = [t.text for t in svg.iter(f"{SVG}text")]
        assert texts == ["compliant", "9,500", "non compliant", "12"]

    def test_a_hostile_label_is_text_not_markup(self) -> None:
        markup = bar_chart('<script>alert("x")</script>', [Bar("<b>&", 1, tone='"><script>')])
        assert "<script>" not in markup
        svg = parsed(markup)
        assert next(t.text for t in svg.iter(f"{SVG}text")) == "<b>&"

    def test_no_data_says_so(self) -> None:
        svg = parsed(bar_chart("Models", []))
        assert [t.text for t in svg.iter(f"{SVG}text")] == ["No data yet"]


class TestColumnChart:
    def test_axis_ticks_are_whole_numbers_and_columns_stack(self) -> None:
        markup = column_chart(
            "Per day", ["Mon", "Tue"], [Series("person", [1, 0]), Series("vehicle", [1, 1])]
        )
        svg = parsed(markup)
        ticks = [t.text for t in svg.iter(f"{SVG}text") if re.fullmatch(r"[\d,]+", t.text or "")]
        assert ticks == ["0", "1", "2", "3", "4"]
        assert svg.find(f"{SVG}desc").text == "Mon: 2; Tue: 1"
        bars = [
            r.find(f"{SVG}title").text
            for r in svg.iter(f"{SVG}rect")
            if r.find(f"{SVG}title") is not None
        ]
        assert bars == ["person, Mon: 1", "vehicle, Mon: 1", "vehicle, Tue: 1"]
        assert "person (1)" in markup and "vehicle (2)" in markup
