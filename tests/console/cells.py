"""Reading a console page as a person does: a table's cells under their column's heading, and
a definition list's values by their term, each as the words shown (tags dropped, spaces
collapsed)."""

from __future__ import annotations

import re
from html.parser import HTMLParser


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[tuple[list[str], list[list[str]]]] = []
        self.facts: dict[str, list[str]] = {}
        self._cell: list[str] | None = None
        self._row: list[str] | None = None
        self._term: str | None = None
        self._open: str | None = None  # th, td, dt or dd

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append(([], []))
        elif tag == "tr":
            self._row = []
        elif tag in ("th", "td", "dt", "dd") and self._open is None:
            self._open, self._cell = tag, []
        elif tag == "br" and self._cell is not None:
            self._cell.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag != self._open or self._cell is None:
            if tag == "tr" and self._row is not None and self.tables:
                headings, rows = self.tables[-1]
                if self._row and not headings:
                    headings.extend(self._row)
                elif self._row:
                    rows.append(self._row)
                self._row = None
            return
        text = re.sub(r"\s+", " ", "".join(self._cell)).strip()
        if tag in ("th", "td") and self._row is not None:
            self._row.append(text)
        elif tag == "dt":
            self._term = text
        elif tag == "dd" and self._term is not None:
            self.facts.setdefault(self._term, []).append(text)
        self._open, self._cell = None, None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def column(page: str, heading: str) -> list[str]:
    """Every cell under `heading`, in the first table that has such a column."""
    reader = _Reader()
    reader.feed(page)
    for headings, rows in reader.tables:
        if heading in headings:
            at = headings.index(heading)
            return [row[at] for row in rows if len(row) > at]
    raise AssertionError(f"no table has a column {heading!r}")


def fact(page: str, term: str) -> str:
    """The value beside `term` in the page's definition lists (the first, if several)."""
    reader = _Reader()
    reader.feed(page)
    found = reader.facts.get(term)
    assert found, f"no {term!r} on the page"
    return found[0]
