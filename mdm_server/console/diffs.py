"""Two versions of a text as rows a person reads: each line with its number in the older
and the newer version, and whether it was removed, added or left as it was; unchanged
stretches far from any change are folded to a count."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Literal

Change = Literal["removed", "added", "unchanged"]


@dataclass(frozen=True)
class Line:
    old: int | None  # its number in the older version; None for an added line
    new: int | None  # its number in the newer version; None for a removed line
    change: Change
    text: str


@dataclass(frozen=True)
class Folded:
    """Unchanged lines left out between two changes (or before the first, after the last)."""

    lines: int


Row = Line | Folded


def line_diff(older: str, newer: str, *, context: int = 3) -> list[Row]:
    """The rows of a line-by-line comparison, `context` unchanged lines kept either side of
    each change; empty when the texts are the same line for line."""
    old_lines, new_lines = older.splitlines(), newer.splitlines()
    if old_lines == new_lines:
        return []
    matcher = difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False)
    groups = list(matcher.get_grouped_opcodes(context))
    rows: list[Row] = []
    shown_up_to = 0  # old lines before this index are shown or folded
    for group in groups:
        first_old = group[0][1]
        if first_old > shown_up_to:
            rows.append(Folded(first_old - shown_up_to))
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                rows.extend(
                    Line(i + 1, j + 1, "unchanged", old_lines[i])
                    for i, j in zip(range(i1, i2), range(j1, j2), strict=True)
                )
                continue
            rows.extend(Line(i + 1, None, "removed", old_lines[i]) for i in range(i1, i2))
            rows.extend(Line(None, j + 1, "added", new_lines[j]) for j in range(j1, j2))
        shown_up_to = group[-1][2]
    if shown_up_to < len(old_lines):
        rows.append(Folded(len(old_lines) - shown_up_to))
    return rows


def counts(rows: list[Row]) -> dict[Change, int]:
    """How many lines were removed and added."""
    found: dict[Change, int] = {"removed": 0, "added": 0, "unchanged": 0}
    for row in rows:
        if isinstance(row, Line):
            found[row.change] += 1
    return found


@dataclass(frozen=True)
class SourceLine:
    """A line of text a person typed, with what is wrong on it (if anything)."""

    number: int
    text: str
    problems: tuple[object, ...] = ()


def marked_lines(
    text: str, problems: list[tuple[int | None, object]], *, context: int = 2
) -> list[SourceLine | Folded]:
    """The lines near each problem that has a line (from 1), each with its problems, and
    the lines between folded to a count; empty when no problem has a line."""
    lines = text.splitlines()
    said: dict[int, list[object]] = {}
    for line, problem in problems:
        if line is not None:
            said.setdefault(min(max(line, 1), max(len(lines), 1)), []).append(problem)
    if not said:
        return []
    shown = sorted(
        {
            n
            for line in said
            for n in range(line - context, line + context + 1)
            if 1 <= n <= max(len(lines), 1)
        }
    )
    rows: list[SourceLine | Folded] = []
    previous = 0
    for number in shown:
        if number > previous + 1:
            rows.append(Folded(number - previous - 1))
        text_of = lines[number - 1] if number <= len(lines) else ""
        rows.append(SourceLine(number, text_of, tuple(said.get(number, ()))))
        previous = number
    if previous < len(lines):
        rows.append(Folded(len(lines) - previous))
    return rows
