"""Batches: the manifest IT fills in, the report a run keeps, and running many devices at once.

The report is rewritten (atomically) as each step finishes, so whatever stops the run, the
file says which devices are done, which were refused, and which were left part-way. A later
run with the same report skips the devices it shows provisioned and resumes the rest."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from device_agent.adb import AdbError, parse_target
from provisioning.runner import DeviceResult, StepResult
from tabard.output import when

REPORT_VERSION = 1
STEP_SAVE_S = 0.5
# As the server names them (mdm_server/validation.py), so a row the manifest accepts is one
# the server accepts too.
_COLLAR = re.compile(r"^[A-Za-z0-9]{1,16}$")
_GROUP = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_SERIAL = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_MODEL = re.compile(r"^[A-Z0-9-]{2,32}$")
CSV_COLUMNS = (
    "key",
    "serial",
    "model",
    "android_version",
    "officer",
    "group",
    "status",
    "mode",
    "half_provisioned",
    "steps_done",
    "steps_total",
    "seconds",
    "message",
)


class ManifestError(ValueError):
    """The manifest cannot be used; each problem names its line and what to fix."""

    def __init__(self, *problems: str) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


@dataclass(frozen=True)
class Row:
    """One device in the manifest."""

    target: str | None  # HOST:PORT for ADB over TCP
    usb_serial: str | None
    officer: str | None
    group: str | None
    expected_model: str | None
    line: int | None = None  # in the manifest

    @property
    def key(self) -> str:
        return self.target if self.target else f"usb:{self.usb_serial}"


_ALLOWED = {
    "serial": "letters, digits, '.', '_' and '-'",
    "officer": "a collar number: up to 16 letters and digits",
    "group": "lowercase letters, digits, '_' and '-', up to 64",
    "expected_model": "a model number such as SM-J530F",
}


def _field(
    where: str, column: str, value: str, pattern: re.Pattern[str], problems: list[str]
) -> str | None:
    value = value.strip()
    if not value:
        return None
    if not pattern.match(value):
        problems.append(f'{where}{column} "{value}" is not valid: use {_ALLOWED[column]}')
    return value


def checked_row(
    *,
    target: str | None,
    usb_serial: str | None,
    officer: str | None,
    group: str | None,
    expected_model: str | None,
    where: str = "",
    line: int | None = None,
) -> Row:
    """A row whose every value is safe to put on a device's command line, or ManifestError
    naming each value that is not."""
    problems: list[str] = []
    if target:
        try:
            parse_target(target)
        except AdbError as exc:
            problems.append(f"{where}{exc}")
    row = Row(
        target=target or None,
        usb_serial=_field(where, "serial", usb_serial or "", _SERIAL, problems),
        officer=_field(where, "officer", officer or "", _COLLAR, problems),
        group=_field(where, "group", group or "", _GROUP, problems),
        expected_model=_field(where, "expected_model", expected_model or "", _MODEL, problems),
        line=line,
    )
    if problems:
        raise ManifestError(*problems)
    return row


def read_manifest(text: str) -> list[Row]:
    """The manifest's rows: a header naming `target` or `serial`, and optionally `officer`,
    `group` and `expected_model`; one device per row, none twice. Every mistake is named at
    once, each with its line."""
    reader = csv.DictReader(io.StringIO(text))
    columns = {name.strip() for name in reader.fieldnames or ()}
    if not columns & {"target", "serial"}:
        raise ManifestError(
            "line 1: the header must name a `target` (HOST:PORT) or `serial` (USB) column; "
            "optional columns: officer, group, expected_model"
        )
    unknown = columns - {"target", "serial", "officer", "group", "expected_model"}
    if unknown:
        raise ManifestError(f"line 1: unknown column(s) {', '.join(sorted(unknown))}")
    rows: list[Row] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for line, raw in enumerate(reader, start=2):
        values = {key.strip(): (value or "") for key, value in raw.items() if key}
        target, serial = values.get("target", "").strip(), values.get("serial", "").strip()
        if bool(target) == bool(serial):
            problems.append(f"line {line}: give exactly one of target and serial")
            continue
        try:
            row = checked_row(
                target=target,
                usb_serial=serial,
                officer=values.get("officer"),
                group=values.get("group"),
                expected_model=values.get("expected_model"),
                where=f"line {line}: ",
                line=line,
            )
        except ManifestError as exc:
            problems.extend(exc.problems)
            continue
        if row.key in seen:
            problems.append(f"line {line}: {row.key} is already on line {seen[row.key]}")
            continue
        seen[row.key] = line
        rows.append(row)
    if problems:
        raise ManifestError(*problems)
    if not rows:
        raise ManifestError("the manifest lists no devices")
    return rows


class Report:
    """The run's report: one result per device, saved as JSON and as CSV beside it."""

    def __init__(self, path: Path | None, results: dict[str, DeviceResult] | None = None):
        self.path = path
        self.results: dict[str, DeviceResult] = results or {}
        self._lock = threading.Lock()
        self._saved_at = 0.0
        self._encoded: dict[str, tuple[DeviceResult, str]] = {}
        self._dirty: set[str] = set()

    @classmethod
    def load(cls, path: Path) -> Report:
        """The report at `path`, or an empty one if there is none yet."""
        if not path.exists():
            return cls(path)
        try:
            data = json.loads(path.read_text())
            if data.get("version") != REPORT_VERSION:
                raise ValueError(f"version {data.get('version')!r}")
            results = [DeviceResult.from_dict(entry) for entry in data["devices"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise ManifestError(
                f"{path} is not a Tabard provisioning report ({exc}); give another --report"
            ) from None
        return cls(path, {result.key: result for result in results})

    def done(self, key: str) -> bool:
        result = self.results.get(key)
        return result is not None and result.status == "provisioned"

    def begin(self, rows: list[Row]) -> None:
        """Every device about to be run, in the manifest's order, as pending until its turn."""
        with self._lock:
            for row in rows:
                self.results[row.key] = DeviceResult(
                    key=row.key,
                    officer=row.officer,
                    group=row.group,
                    expected_model=row.expected_model,
                    status="pending",
                )
            self.save()

    def update(self, result: DeviceResult, *, step: bool = False) -> None:
        """Record a device's progress. A device starting or ending is saved at once; steps
        in between at most every `STEP_SAVE_S` (a device between two saves shows as
        in progress, which the report reads as possibly part-provisioned)."""
        with self._lock:
            self.results[result.key] = result
            self._dirty.add(result.key)
            now = time.monotonic()
            if not step or now - self._saved_at >= STEP_SAVE_S:
                self.save()
                self._saved_at = now

    def save(self) -> None:
        """Write the JSON and the CSV. Each device is encoded again only if it changed."""
        if self.path is None:
            return
        devices = []
        for key, result in self.results.items():
            encoded = self._encoded.get(key)
            if encoded is None or encoded[0] is not result or key in self._dirty:
                encoded = (result, json.dumps(result.to_dict(), sort_keys=True))
                self._encoded[key] = encoded
            devices.append(encoded[1])
        self._dirty.clear()
        head = json.dumps({"version": REPORT_VERSION, "summary": self.summary()})[:-1]
        _write_atomically(self.path, f'{head}, "devices": [\n' + ",\n".join(devices) + "\n]}\n")
        _write_atomically(self.path.with_suffix(".csv"), self.csv())

    def summary(self) -> dict[str, int]:
        return summarise(self.results.values())

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for result in self.results.values():
            writer.writerow(csv_row(result))
        return out.getvalue()


def summarise(results: Iterable[DeviceResult]) -> dict[str, int]:
    """How many devices, and how many ended each way."""
    counts = {"devices": 0}
    for result in results:
        counts["devices"] += 1
        counts[result.status] = counts.get(result.status, 0) + 1
    return counts


def skipped(previous: DeviceResult) -> DeviceResult:
    """A device a resumed run leaves alone, because an earlier run with the same report
    provisioned it: what it is, and when that was."""
    return DeviceResult(
        key=previous.key,
        officer=previous.officer,
        group=previous.group,
        expected_model=previous.expected_model,
        status="skipped",
        serial=previous.serial,
        model=previous.model,
        android_version=previous.android_version,
        mode=previous.mode,
        device_id=previous.device_id,
        message=f"already done in the run of {when(previous.finished_at)}; not touched",
    )


def csv_row(result: DeviceResult) -> list[Any]:
    total = len(result.plan["steps"]) if result.plan else 0
    done = sum(1 for step in result.steps if step.outcome != "failed")
    return [
        result.key,
        result.serial or "",
        result.model or "",
        result.android_version or "",
        result.officer or "",
        result.group or "",
        result.status,
        result.mode or "",
        "yes" if result.half_provisioned else "no",
        done,
        total,
        f"{result.ms / 1000:.1f}",
        result.message,
    ]


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


Work = Callable[[Row, DeviceResult, Callable[[DeviceResult, StepResult | None], None]], None]


def run_batch(
    rows: Iterable[Row],
    report: Report,
    work: Work,
    *,
    parallel: int,
    on_skip: Callable[[Row], None] | None = None,
) -> Report:
    """Run `work` for every row not already done, `parallel` at a time; the report is saved
    at every step."""

    def one(row: Row) -> None:
        result = report.results[row.key]
        work(row, result, lambda res, step: report.update(res, step=step is not None))
        report.update(result)

    pending = []
    for row in rows:
        if report.done(row.key):
            if on_skip:
                on_skip(row)
        else:
            pending.append(row)
    report.begin(pending)
    with ThreadPoolExecutor(max_workers=max(1, parallel), thread_name_prefix="provision") as pool:
        for future in [pool.submit(one, row) for row in pending]:
            future.result()
    return report
