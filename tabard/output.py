"""Terminal output shared by every `tabard` command: JSON for machines, tables for people,
and errors on stderr with a non-zero exit."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any, NoReturn

import typer
from rich.console import Console, ConsoleDimensions
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from tabard.words import describe_detail as describe_detail
from tabard.words import plain as plain
from tabard.words import when as when

# Printed to a pipe or a file, output is for the next program or for reading later, not for a
# screen: lines as long as their content, rather than Rich's 80 columns that cut ids and times
# into slivers. COLUMNS, when set, still wins.
PIPE_WIDTH = 1000
ID_COLUMNS = frozenset({"id", "serial", "device", "seq", "username", "collar", "officer"})

MIN_WORDS_WIDTH = 10  # a column of words narrower than this is no longer readable
_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class _Console(Console):
    """Rich's console, as wide as its content when it is not writing to a terminal."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        if "width" not in options:
            # Rich fixes COLUMNS at construction, and this console is made at import: read it
            # when printing instead, as `size` below does.
            self._width = None

    @property
    def size(self) -> ConsoleDimensions:
        measured = super().size
        if self._width is None and not self.is_terminal and "COLUMNS" not in os.environ:
            return ConsoleDimensions(PIPE_WIDTH, measured.height)
        return measured

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        self._width, self._height = new_size


stdout = _Console()
stderr = _Console(stderr=True)


def print_json(data: Any) -> None:
    """JSON on stdout, nothing else, so `--json` output pipes cleanly."""
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def fail(message: str, *, code: int = 1) -> NoReturn:
    stderr.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def styled(value: Any, style: str) -> Text:
    """A cell shown in a style (a state's colour); its text is never read as markup."""
    return Text(plain(value), style=style)


def _cell(value: Any) -> Text:
    """What a table shows for a value: styled text as it is, anything else in plain words."""
    return value if isinstance(value, Text) else Text(plain(value))


def table(
    title: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    keep_whole: Sequence[str] = (),
) -> None:
    """A table. The first column, the usual identifier columns (`ID_COLUMNS`) and those named
    in `keep_whole` never wrap: people copy what is in them. Where the terminal is too narrow
    for those whole and the rest still readable, each row is shown as a block of its own."""
    cells = [[_cell(cell) for cell in row] for row in rows]
    whole = [
        index == 0 or column in ID_COLUMNS or column in keep_whole
        for index, column in enumerate(columns)
    ]
    # A column kept whole claims its widest value (and its heading); the others need room
    # for a word or so each, and every column costs its borders and padding.
    widths = [
        max([len(column), *(row[index].cell_len for row in cells)]) if whole[index] else None
        for index, column in enumerate(columns)
    ]
    needed = sum(w if w is not None else MIN_WORDS_WIDTH for w in widths) + 3 * len(columns) + 1
    if cells and needed > stdout.size.width:
        _title(title)
        for row in cells:
            fields("", zip(columns, row, strict=True))
        return
    grid = Table(header_style="bold")
    for index, column in enumerate(columns):
        grid.add_column(column, overflow="fold", no_wrap=whole[index], min_width=widths[index])
    for row in cells:
        grid.add_row(*row)
    _title(title)
    stdout.print(grid)


def fields(title: str, pairs: Iterable[tuple[str, Any]]) -> None:
    """A two-column key/value table."""
    grid = Table(show_header=False)
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    for key, value in pairs:
        grid.add_row(key, _cell(value))
    _title(title)
    stdout.print(grid)


def readable(document: dict[str, Any]) -> list[tuple[str, Any]]:
    """An API object's members for `fields`: names in words, and its times (members named
    `..._at` or `..._until`) as people read them."""
    return [
        (
            name.replace("_", " "),
            when(value) if isinstance(value, str) and name.endswith(("_at", "_until")) else value,
        )
        for name, value in document.items()
    ]


def _title(title: str) -> None:
    """A table's title on a line of its own, so it is never wrapped to the table's width."""
    if not title:
        return
    stdout.print(Text(title, style="table.title"))


def short_id(value: str) -> str:
    """The first eight characters of an id: enough to tell things apart on screen, and
    accepted wherever the thing is named."""
    return value[:8]


def empty(message: str) -> None:
    stdout.print(f"[dim]{message}[/]")


def parse_duration(text: str) -> timedelta:
    """`90s`, `15m`, `24h` or `7d`."""
    match = _DURATION.match(text.strip())
    if not match:
        raise typer.BadParameter("use a number and a unit, like 90s, 15m, 24h or 7d")
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


def read_secret_stdin(what: str) -> str:
    """One line from standard input, without its newline."""
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        fail(f"expected the {what} on standard input")
    return line
