"""`tabard demand`: the supervisor's view of their division over the API: transactions per
hour beside the same hours last week, per type, per day, the busiest hours, the departments'
workload, device health (counts only, never contents).

The view is drawn from whatever sections the API returns, so a section the server adds is
shown without a change here: a run of buckets (`starts` with counts per bucket) becomes a
table with a row per bucket, a list of rows (the busiest hours, say) a table with a row each,
anything else a list of names and values."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Annotated, Any

import typer

from mdm_server.cli.accounts import JsonOption, api_errors
from mdm_server.cli.session import StaffClient
from tabard.output import empty, fields, plain, print_json, stdout, table, when

HEADER = ("division", "generated_at")


def _title(*names: str) -> str:
    return ": ".join(name.replace("_", " ") for name in names).capitalize()


def _is_buckets(section: Mapping[str, Any]) -> bool:
    return isinstance(section.get("starts"), list)


def _bucket_columns(section: Mapping[str, Any]) -> Iterator[tuple[str, list[Any]]]:
    """(column, one value per bucket): each series by its type, then every other list as long
    as `starts` (the workload's counts, say)."""
    width = len(section["starts"])
    for series in section.get("series") or []:
        if isinstance(series, Mapping) and isinstance(series.get("counts"), list):
            yield str(series.get("type", "")), list(series["counts"])
    for name, value in section.items():
        if name not in ("starts", "series") and isinstance(value, list) and len(value) == width:
            yield name.replace("_", " "), value


def _buckets(title: str, section: Mapping[str, Any]) -> None:
    columns = list(_bucket_columns(section))
    totals = [
        f"{name.replace('_', ' ')} {plain(value)}"
        for name, value in section.items()
        if not isinstance(value, list | Mapping)
    ]
    heading = f"{title} ({', '.join(totals)})" if totals else title
    if not columns:
        empty(f"{heading}: none.")
        return
    table(
        heading,
        ["from", *(name or "(none)" for name, _ in columns)],
        [
            [when(start), *(values[index] for _, values in columns)]
            for index, start in enumerate(section["starts"])
        ],
    )


def _flatten(prefix: str, value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping) and not _is_buckets(value):
        for name, item in value.items():
            yield from _flatten(f"{prefix} {name}".strip(), item)
    else:
        yield prefix.replace("_", " "), value


def _is_rows(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(r, Mapping) for r in value)


def show_section(names: tuple[str, ...], section: Any) -> None:
    """One section of the view: buckets as a table, a list of rows as a table, a group of
    sections each in turn, plain values as names and values."""
    title = _title(*names)
    if isinstance(section, Mapping) and _is_buckets(section):
        _buckets(title, section)
        return
    if isinstance(section, Mapping) and any(
        (isinstance(item, Mapping) and _is_buckets(item)) or _is_rows(item)
        for item in section.values()
    ):
        plain_values = {
            k: v for k, v in section.items() if not isinstance(v, Mapping) and not _is_rows(v)
        }
        if plain_values:
            fields(title, list(_flatten("", plain_values)))
        for name, item in section.items():
            if isinstance(item, Mapping) or _is_rows(item):
                show_section((*names, name), item)
        return
    if _is_rows(section):
        columns = list(dict.fromkeys(key for row in section for key in row))
        table(
            title,
            [column.replace("_", " ") for column in columns],
            [[row.get(key) for key in columns] for row in section],
        )
        return
    fields(title, [(name or title.lower(), value) for name, value in _flatten("", section)])


def demand(
    days: Annotated[int, typer.Option(min=1, max=90, help="Days of daily counts.")] = 14,
    json_output: JsonOption = False,
) -> None:
    """Your division's demand: transactions by type per hour (last 24 hours) beside the same
    hours last week, and per day; the busiest hours of the last four weeks; missing-person and
    safeguarding workload; and device health (supervisor)."""
    with api_errors():
        view = StaffClient.from_stored().get("/api/v1/demand", params={"days": days})
    if json_output:
        print_json(view)
        return
    generated = when(view.get("generated_at"))
    stdout.print(f"Demand in division {view.get('division')}, as of {generated}.", markup=False)
    for name, section in view.items():
        if name not in HEADER:
            show_section((name,), section)
