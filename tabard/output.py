"""Terminal output shared by every `tabard` command: JSON for machines, tables for people,
and errors on stderr with a non-zero exit."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

stdout = Console()
stderr = Console(stderr=True)

_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def print_json(data: Any) -> None:
    """JSON on stdout, nothing else, so `--json` output pipes cleanly."""
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def fail(message: str, *, code: int = 1) -> NoReturn:
    stderr.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def describe_detail(detail: Any) -> str:
    """A server error's `detail` as one readable line (located errors joined)."""
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict) and "field" in item:
                parts.append(f"{item['field']}: {item.get('problem', '')}")
            else:
                parts.append(str(item))
        return "; ".join(parts)
    return str(detail)


def table(
    title: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    keep_whole: Sequence[str] = (),
) -> None:
    """A table; columns named in `keep_whole` (identifiers people copy) never wrap."""
    grid = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        whole = column in keep_whole
        grid.add_column(column, overflow="fold", no_wrap=whole)
    for row in rows:
        grid.add_row(*("" if cell is None else str(cell) for cell in row))
    stdout.print(grid)


def fields(title: str, pairs: Iterable[tuple[str, Any]]) -> None:
    """A two-column key/value table."""
    grid = Table(title=title, title_justify="left", show_header=False)
    grid.add_column(style="bold")
    grid.add_column(overflow="fold")
    for key, value in pairs:
        grid.add_row(key, "" if value is None else str(value))
    stdout.print(grid)


def when(value: str | None) -> str:
    """An API timestamp as a person reads it, to the second with its zone:
    `2026-11-21 09:30:05Z`."""
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def short_id(value: str) -> str:
    """The first eight characters of an id: enough to tell devices apart on screen, and
    accepted wherever a device is named."""
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
