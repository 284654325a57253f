"""The short version of every hot path's benchmark, each ratio beside the one BENCHMARKS.md
records, so a change that slows a hot path shows before it lands.

    python bench/quick.py            # or: make bench-quick
    python bench/quick.py --only checkin,gate

Each benchmark runs in its own process with short settings and ends with its JSON line, as
it always does; the ratios (each against a baseline measured in the same run) are read from
that line. The recorded figures are the table under "What `make bench-quick` compares
against" in BENCHMARKS.md: whoever records new figures there updates that table in the same
change. PostgreSQL figures need TABARD_TEST_DATABASE_URL, as the benchmarks themselves do.

Ratios, not rates: this machine is shared, and a rate measured on a busy minute says little,
while a ratio against a baseline measured in the same minute keeps its meaning. Even so a
short run scatters more than a full one; a figure flagged here is a reason to run the full
benchmark, not a verdict."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
RECORDED_HEADING = "## What `make bench-quick` compares against"
RECORDED_ROW = re.compile(r"^\| `(?P<figure>[a-z_.0-9]+)` \| (?P<value>[0-9.]+) \|")
FLAG_AT = 0.15  # a short run worse than the record by more than this is flagged


@dataclass(frozen=True)
class Figure:
    name: str  # bench.path.in.its.json, as the recorded table names it
    path: tuple[str, ...]
    higher_is_better: bool
    postgresql: bool = False


@dataclass(frozen=True)
class Bench:
    name: str
    argv: tuple[str, ...]
    figures: tuple[Figure, ...]


def _figure(name: str, *, higher_is_better: bool) -> Figure:
    _, *path = name.split(".")
    return Figure(name, tuple(path), higher_is_better, postgresql="postgresql" in path)


BENCHES = (
    Bench(
        "checkin",
        ("bench/checkin.py", "--devices", "100", "--seconds", "6", "--warmup", "2"),
        (
            _figure("checkin.sqlite.ratio", higher_is_better=True),
            _figure("checkin.postgresql.ratio", higher_is_better=True),
        ),
    ),
    Bench(
        "gate",
        ("bench/gate.py", "--entries", "20"),
        (_figure("gate.rest_online_p95_over_health_p50", higher_is_better=False),),
    ),
    Bench(
        "delivery",
        ("bench/delivery.py", "--agents", "300", "--commands", "60", "--baseline-commands", "20"),
        (
            _figure("delivery.sqlite.p99_ratio", higher_is_better=False),
            _figure("delivery.postgresql.p99_ratio", higher_is_better=False),
        ),
    ),
    Bench(
        "audit",
        ("bench/audit.py", "--events", "100000", "--proofs", "2000"),
        # PostgreSQL's only: SQLite's short-run ratio scattered from 0.18 to 0.48 between runs
        # of the same code (BENCHMARKS.md, "Proofs in blocks"), too wide to flag anything.
        (_figure("audit.postgresql.inclusion_proofs_ratio", higher_is_better=True),),
    ),
)


def recorded_figures(benchmarks_md: Path) -> dict[str, float]:
    """The recorded table in BENCHMARKS.md: figure name to value."""
    recorded: dict[str, float] = {}
    inside = False
    for line in benchmarks_md.read_text().splitlines():
        if line.startswith("## "):
            inside = line.strip() == RECORDED_HEADING
            continue
        if inside and (row := RECORDED_ROW.match(line)):
            recorded[row["figure"]] = float(row["value"])
    return recorded


def dig(document: dict[str, Any], path: tuple[str, ...]) -> float | None:
    value: Any = document
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return float(value) if isinstance(value, int | float) else None


def run(bench: Bench, console: Console) -> dict[str, Any] | None:
    """The benchmark's JSON line, or None (and its stderr shown) if it failed."""
    started = time.monotonic()
    with console.status(f"[bold]{bench.name}[/]: {' '.join(bench.argv)}"):
        finished = subprocess.run(
            [sys.executable, *bench.argv], cwd=ROOT, capture_output=True, text=True, check=False
        )
    took = time.monotonic() - started
    if finished.returncode != 0:
        console.print(f"[red]{bench.name} failed ({finished.returncode})[/]")
        console.print(finished.stderr[-3000:], markup=False)
        return None
    console.print(f"{bench.name}: done in {took:.0f} s")
    last = finished.stdout.strip().splitlines()[-1]
    result: dict[str, Any] = json.loads(last)
    return result


def verdict(figure: Figure, now: float, recorded: float | None) -> tuple[str, str]:
    """The change against the record in words, and its style."""
    if recorded is None or recorded == 0:
        return "no record", "yellow"
    change = (now - recorded) / recorded
    worse = -change if figure.higher_is_better else change
    words = f"{change:+.0%}"
    if worse > FLAG_AT:
        return f"{words} worse: run the full benchmark", "bold red"
    if worse < -FLAG_AT:
        return f"{words} better: record it?", "green"
    return f"{words} (within a short run's spread)", ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", help="comma-separated benchmarks: " + ", ".join(b.name for b in BENCHES)
    )
    args = parser.parse_args()
    console = Console(stderr=True)
    chosen = [b for b in BENCHES if not args.only or b.name in args.only.split(",")]
    recorded = recorded_figures(ROOT / "BENCHMARKS.md")
    has_postgres = bool(os.environ.get("TABARD_TEST_DATABASE_URL"))
    if not has_postgres:
        console.print("PostgreSQL figures skipped: set TABARD_TEST_DATABASE_URL to include them.")
    table = Table(title="Hot paths, short runs, against BENCHMARKS.md")
    for column in ("figure", "better", "recorded", "now", "change"):
        table.add_column(column, justify="right" if column in ("recorded", "now") else "left")
    figures: dict[str, float | None] = {}
    flagged = False
    for bench in chosen:
        result = run(bench, console)
        for figure in bench.figures:
            if figure.postgresql and not has_postgres:
                continue
            now = dig(result, figure.path) if result is not None else None
            figures[figure.name] = now
            before = recorded.get(figure.name)
            shown = f"{before:g}" if before is not None else "-"
            better = "higher" if figure.higher_is_better else "lower"
            if now is None:
                table.add_row(figure.name, better, shown, "failed", "", style="bold red")
                flagged = True
                continue
            words, style = verdict(figure, now, before)
            flagged = flagged or style == "bold red"
            table.add_row(figure.name, better, shown, f"{now:g}", words, style=style)
    console.print(table)
    print(json.dumps({"benchmark": "quick", "figures": figures, "recorded": recorded}))
    return 1 if flagged else 0


if __name__ == "__main__":
    sys.exit(main())
