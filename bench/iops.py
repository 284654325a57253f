"""iOPS views on a force-sized history: 400,000 secure-side transactions a month for 12 months
(clearly synthetic: audit index rows with made-up officers, spread over 12 divisions, with an
afternoon and evening peak) and a year of the departments' records, then each view's console
page and API route, median and 95th percentile over `--runs` requests each, in process (the app
called through its ASGI interface, as a request reaches it after the network): the
supervisor's demand for one division, the missing-persons board, the MASH queue and the
division map. The baseline, in the same run: the plain API route the other benches use (GET
/api/v1/health). Target: 300 ms at p95 for each view.

The transactions go only into the table the demand view reads (`audit_index`): executemany on
SQLite, COPY on PostgreSQL. Each view is a `Target` (its generator, its URLs, who may open
it). The generators write a year ending at the run's clock, whatever `--months` says, in bulk
inserts, seeded so every run writes the same rows: 5,000 missing-person cases with their
timelines (about one in twenty still open), 20,000 safeguarding referrals with the filed
reports they were raised as (a few dozen waiting, some past the triage deadline) and 200,000
filed reports of other kinds, placed on the maps of the three divisions that have one
(`north`, `south`, `east`: the shipped demo maps). Every name, reference and place is made up.
The measured division is `north`.

Ends with one JSON line.

    python bench/iops.py [--quick] [--months 12] [--per-month 400000] [--runs 30]
                         [--database-url postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import io
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from console import sign_in  # bench/console.py: a console sign-in
from fastapi.testclient import TestClient
from sqlalchemy import insert, text

from mdm_server.db import Database, build_engine
from mdm_server.geo.maps import MapSource
from mdm_server.geo.placement import place
from mdm_server.main import create_app
from mdm_server.migrate import upgrade
from mdm_server.records.case_models import MissingPersonCase, MissingPersonCaseEntry
from mdm_server.records.models import FiledReport, FiledReportVersion
from mdm_server.records.safeguarding_models import SafeguardingReferral
from tests.conftest import FakeClock, make_settings
from tests.factories.staff import bearer, create_staff

NOW = datetime(2026, 12, 4, 17, 30, tzinfo=UTC)
# The first three have the shipped demo maps (mdm_server/geo/demo), so the map draws for them;
# the measured division is the first.
DIVISIONS = ["north", "south", "east", *(f"D{n}" for n in range(3, 12))]
KINDS = ["person_search", "vehicle_search", "incident_search", "missing_person_report"]
PURPOSES = ["INVESTIGATION", "ROAD_TRAFFIC", "MISSING_PERSON", "SAFEGUARDING", "INTELLIGENCE"]
# Hour-of-day weights: quiet small hours, a peak from the afternoon into the evening.
HOURLY = [2, 1, 1, 1, 1, 2, 3, 5, 7, 8, 8, 8, 9, 9, 10, 11, 12, 12, 11, 10, 9, 7, 5, 3]
BATCH = 20_000
# Synthetic rows sit far above the log's own sequence numbers, so events the run records
# (the accounts it creates) append as usual.
SEQ_FROM = 10**12
COLUMNS = (
    "seq",
    "occurred_at",
    "action",
    "officer",
    "device_id",
    "division",
    "transaction_type",
    "purpose",
    "outcome",
)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def synthetic_transactions(months: int, per_month: int) -> Iterator[tuple[object, ...]]:
    """`months` of `per_month` transactions ending at NOW, oldest first, each an audit index
    row (synthetic officers `SYN0000`..., no subject: the index holds none)."""
    rng = random.Random(22)
    total = months * per_month
    span = timedelta(days=30 * months).total_seconds()
    hours = rng.choices(range(24), weights=HOURLY, k=4096)
    start = NOW - timedelta(days=30 * months)
    for seq in range(1, total + 1):
        moment = start + timedelta(seconds=span * (seq - 1) / total)
        moment = moment.replace(hour=hours[seq % 4096])
        if moment > NOW:
            moment = NOW - timedelta(minutes=1)
        kind = KINDS[seq % 7 % 4]
        outcome = "refused:purpose_not_allowed" if seq % 37 == 0 else "answered"
        yield (
            SEQ_FROM + seq,
            moment,
            f"transaction.{kind}",
            f"SYN{seq % 3000:04d}",
            f"syn-device-{seq % 9000}",
            DIVISIONS[seq % len(DIVISIONS)],
            kind,
            PURPOSES[seq % 5],
            outcome,
        )


def _batches(rows: Iterator[tuple[object, ...]]) -> Iterator[list[tuple[object, ...]]]:
    batch: list[tuple[object, ...]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def load_history(database: Database, months: int, per_month: int) -> float:
    """The synthetic history into audit_index: COPY on PostgreSQL, executemany on SQLite;
    rows per second."""
    started = time.perf_counter()
    total = 0
    engine = database.engine
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            raw = connection.connection.driver_connection
            with raw.cursor() as cursor:  # type: ignore[union-attr]
                copy_sql = f"COPY audit_index ({', '.join(COLUMNS)}) FROM STDIN"
                for batch in _batches(synthetic_transactions(months, per_month)):
                    buffer = io.StringIO()
                    for row in batch:
                        buffer.write("\t".join(_pg(value) for value in row) + "\n")
                    with cursor.copy(copy_sql) as copy:
                        copy.write(buffer.getvalue())
                    total += len(batch)
        else:
            raw = connection.connection.driver_connection
            marks = ", ".join("?" for _ in COLUMNS)
            names = ", ".join(COLUMNS)  # constants, not input
            statement = f"INSERT INTO audit_index ({names}) VALUES ({marks})"  # noqa: S608
            for batch in _batches(synthetic_transactions(months, per_month)):
                raw.executemany(  # type: ignore[union-attr]
                    statement, [(row[0], _sqlite(row[1]), *row[2:]) for row in batch]
                )
                total += len(batch)
                if total % 1_000_000 < BATCH:
                    log(f"  {total:,} transactions")
    if engine.dialect.name == "postgresql":
        # What autovacuum does soon after a bulk load: statistics, and the visibility map
        # without which no index-only scan is possible.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE audit_index"))
    else:
        with engine.begin() as connection:
            connection.execute(text("ANALYZE"))
    return total / (time.perf_counter() - started)


def _pg(value: object) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _sqlite(value: object) -> str:
    assert isinstance(value, datetime)
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")


# The departments' records: a year of each, ending at NOW, whatever `--months` says.
YEAR = timedelta(days=360)
ROWS_BATCH = 5_000
SURNAMES = ["Example", "Synthetic", "Sample", "Placeholder", "Fictional", "Madeup"]
FORENAMES = ["Alex", "Sam", "Jo", "Robin", "Charlie", "Morgan", "Casey", "Riley", "Jamie", "Drew"]
RISK_WEIGHTS = {"high": 10, "medium": 40, "low": 35, "no_apparent_risk": 15}
MAP_KINDS = {"incident_report": 60, "stop_and_search": 25, "witness_statement": 12}
MAPS = MapSource()


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def _moment(rng: random.Random, hours: list[int]) -> datetime:
    """A time in the year before NOW, at an hour drawn with the day's peak."""
    day = NOW - YEAR + timedelta(days=rng.randrange(YEAR.days + 1))
    moment = day.replace(hour=rng.choice(hours), minute=rng.randrange(60), second=0)
    return moment if moment <= NOW else NOW - timedelta(minutes=rng.randrange(1, 600))


def _collar(rng: random.Random) -> str:
    return str(rng.randrange(10_000, 99_999))


def _location(rng: random.Random, division: str) -> tuple[str, tuple[float, float] | None]:
    """A made-up location in the division (a street of its map, where it has one) and its
    point, placed as the demo connector places a filed report's location."""
    division_map = MAPS.division(division)
    if division_map is None or rng.random() < 0.2:
        text = f"near Synthetic Park, gate {rng.randrange(1, 40)}"
    else:
        text = f"{rng.randrange(1, 120)} {rng.choice(division_map.streets).name}"
    return text, _placed(division, text)


_PLACED: dict[tuple[str, str], tuple[float, float] | None] = {}


def _placed(division: str, text: str) -> tuple[float, float] | None:
    if (division, text) not in _PLACED:
        _PLACED[division, text] = place({"location": text}, MAPS.division(division))
    return _PLACED[division, text]


def _insert(database: Database, model: type[Any], rows: list[dict[str, Any]]) -> None:
    """Rows straight into the model's table, in batches, in one transaction."""
    with database.engine.begin() as connection:
        for start in range(0, len(rows), ROWS_BATCH):
            connection.execute(insert(model), rows[start : start + ROWS_BATCH])


def _filed(
    rng: random.Random,
    *,
    reference: str,
    kind: str,
    fields: dict[str, Any],
    division: str,
    by: str,
    at: datetime,
    point: tuple[float, float] | None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A filed report and its first version, as the demo connector keeps them."""
    transaction_id = _uuid(rng)
    report = {
        "reference": reference,
        "kind": kind,
        "transaction_id": transaction_id,
        "filed_by": by,
        "filed_at": at,
        "version": 1,
        "fields": fields,
        "signature": None,
        "signed_at": None,
        "signature_digest": None,
        "division": division,
        "longitude": point[0] if point is not None else None,
        "latitude": point[1] if point is not None else None,
    }
    version = {
        "reference": reference,
        "version": 1,
        "fields": fields,
        "changed": [],
        "reason": None,
        "by": by,
        "at": at,
        "transaction_id": transaction_id,
    }
    return report, version


def synthetic_cases(database: Database, count: int = 5_000) -> None:
    """`count` missing-person cases over the year across the divisions, each with its
    timeline (opened, sightings and welfare checks, reviews, found, closed): most found and
    closed within a day or two, about one in twenty still open (long-term missing), a few
    found and waiting to be closed. Made-up people (`Example`, `Synthetic`...), references
    `MISPER-SYN-000001`..."""
    rng = random.Random(2201)
    hours = rng.choices(range(24), weights=HOURLY, k=4096)
    risks, weights = list(RISK_WEIGHTS), list(RISK_WEIGHTS.values())
    review_every = {
        "high": timedelta(hours=1),
        "medium": timedelta(hours=4),
        "low": timedelta(hours=12),
        "no_apparent_risk": timedelta(hours=24),
    }
    cases: list[dict[str, Any]] = []
    entries: list[dict[str, Any]] = []
    for n in range(1, count + 1):
        reference = f"MISPER-SYN-{n:06d}"
        division = DIVISIONS[rng.randrange(len(DIVISIONS))]
        risk = rng.choices(risks, weights=weights)[0]
        reported_by = _collar(rng)
        assigned_to = _collar(rng) if rng.random() < 0.7 else None
        last_seen_at = _moment(rng, hours)
        opened_at = min(last_seen_at + timedelta(minutes=rng.randrange(20, 360)), NOW)
        location, _ = _location(rng, division)
        long_term = rng.random() < 0.05
        found_at = None if long_term else opened_at + timedelta(hours=rng.expovariate(1 / 20) + 0.5)
        if found_at is not None and found_at > NOW:
            found_at = None
        closed_at: datetime | None = None
        outcome: str | None = None
        if found_at is not None:
            closed_at = found_at + timedelta(hours=rng.uniform(1, 48))
            outcome = "found" if rng.random() < 0.97 else "withdrawn"
            if closed_at > NOW:
                closed_at = outcome = None
        timeline: list[tuple[str, str | None, dict[str, Any], str, datetime]] = [
            ("opened", None, {"risk": risk}, reported_by, opened_at)
        ]
        until = closed_at or found_at or NOW
        for _ in range(rng.randrange(0, 4)):
            at = opened_at + (until - opened_at) * rng.random()
            kind = rng.choice(["sighting", "sighting", "welfare_check"])
            note = f"Synthetic {kind.replace('_', ' ')}: {_location(rng, division)[0]}"
            timeline.append((kind, note, {}, _collar(rng), at))
        # Reviews at the risk's interval, the latest now and then late on an open case.
        every = review_every[risk]
        reviewed_at = None
        reviews = min(int((until - opened_at) / every), 3 if found_at else 6)
        for k in range(reviews, 0, -1):
            at = until - every * (k - 1 + rng.uniform(0.2, 1.3))
            if at > opened_at:
                timeline.append(("review", "Synthetic review", {"risk": risk}, "MP-UNIT", at))
                reviewed_at = max(reviewed_at or at, at)
        if found_at is not None:
            timeline.append(("found", "Synthetic: found safe", {}, _collar(rng), found_at))
        if closed_at is not None:
            note = "Synthetic: closed"
            timeline.append(("closed", note, {"outcome": outcome}, "MP-UNIT", closed_at))
        status = "closed" if closed_at else "found" if found_at else "open"
        cases.append(
            {
                "reference": reference,
                "surname": rng.choice(SURNAMES),
                "forename": rng.choice(FORENAMES),
                "date_of_birth": (NOW - timedelta(days=rng.randrange(12 * 365, 80 * 365))).date(),
                "description": "Synthetic person for the iOPS bench: medium build, dark coat.",
                "last_seen_at": last_seen_at,
                "last_seen_location": location,
                "risk": risk,
                "status": status,
                "division": division,
                "reported_by": reported_by,
                "assigned_to": assigned_to,
                "opened_at": opened_at,
                "reviewed_at": reviewed_at,
                "closed_at": closed_at,
                "outcome": outcome,
            }
        )
        for kind, note, detail, by, at in sorted(timeline, key=lambda entry: entry[4]):
            entries.append(
                {
                    "reference": reference,
                    "kind": kind,
                    "note": note,
                    "detail": detail,
                    "by": by,
                    "at": at,
                    "transaction_id": _uuid(rng),
                }
            )
    _insert(database, MissingPersonCase, cases)
    _insert(database, MissingPersonCaseEntry, entries)
    statuses = Counter(case["status"] for case in cases)
    log(f"  {count:,} missing-person cases ({_counts(statuses)}), {len(entries):,} entries")


def synthetic_referrals(database: Database, count: int = 20_000) -> None:
    """`count` safeguarding referrals over the year across the divisions, each with the
    filed report it was raised as (and that report's first version): most rated within hours
    and decided within the 24-hour triage deadline, one in ten late (one to ten days), so a
    few dozen wait at NOW, some of them overdue. References `SG-SYN-000001`..."""
    rng = random.Random(2202)
    hours = rng.choices(range(24), weights=HOURLY, k=4096)
    reports: list[dict[str, Any]] = []
    versions: list[dict[str, Any]] = []
    referrals: list[dict[str, Any]] = []
    for n in range(1, count + 1):
        reference = f"SG-SYN-{n:06d}"
        division = DIVISIONS[rng.randrange(len(DIVISIONS))]
        at_risk = "child" if rng.random() < 0.6 else "adult"
        raised_at = _moment(rng, hours)
        raised_by = _collar(rng)
        location, point = _location(rng, division)
        age = rng.randrange(1, 17) if at_risk == "child" else rng.randrange(18, 90)
        fields = {
            "at_risk": at_risk,
            "surname": rng.choice(SURNAMES),
            "forename": rng.choice(FORENAMES),
            "date_of_birth": (raised_at - timedelta(days=age * 365 + 100)).date().isoformat(),
            "concerns": "Synthetic concern for the iOPS bench: neglect reported by a neighbour.",
            "immediate_actions": "Synthetic: spoke to the family, checked the home.",
            "location": location,
        }
        report, version = _filed(
            rng,
            reference=reference,
            kind="safeguarding_referral",
            fields=fields,
            division=division,
            by=raised_by,
            at=raised_at,
            point=point,
        )
        reports.append(report)
        versions.append(version)
        late = rng.random() < 0.1
        took = timedelta(hours=rng.uniform(24, 240) if late else rng.uniform(1, 22))
        rated_at = raised_at + took * rng.uniform(0.2, 0.8)
        decided_at = raised_at + took
        row: dict[str, Any] = {
            "reference": reference,
            "at_risk": at_risk,
            "division": division,
            "raised_by": raised_by,
            "raised_at": raised_at,
            "rating": None,
            "rating_reason": None,
            "rated_by": None,
            "rated_at": None,
            "decision": None,
            "decision_reason": None,
            "decided_by": None,
            "decided_at": None,
        }
        if rated_at <= NOW:
            row |= {
                "rating": rng.choices(["red", "amber", "green"], weights=[15, 45, 40])[0],
                "rating_reason": "Synthetic rating",
                "rated_by": "mash-syn",
                "rated_at": rated_at,
            }
        if decided_at <= NOW:
            decision = rng.choice(
                [
                    "childrens_social_care" if at_risk == "child" else "adults_social_care",
                    "police_action",
                    "no_further_action",
                ]
            )
            row |= {
                "decision": decision,
                "decision_reason": "Synthetic decision",
                "decided_by": "mash-syn",
                "decided_at": decided_at,
            }
        referrals.append(row)
    _insert(database, FiledReport, reports)
    _insert(database, FiledReportVersion, versions)
    _insert(database, SafeguardingReferral, referrals)
    waiting = [row for row in referrals if row["decided_at"] is None]
    overdue = [row for row in waiting if row["raised_at"] < NOW - timedelta(hours=24)]
    log(f"  {count:,} referrals, {len(waiting)} waiting, {len(overdue)} of them overdue")


def synthetic_reports(database: Database, count: int = 200_000) -> None:
    """`count` filed reports over the year across the divisions (incident reports, stops and
    searches, witness statements), each with its first version: nine in ten give a location,
    placed on the division's map where it has one (a point on a named street or inside the
    outline, as the demo connector places it). References `RPT-SYN-0000001`..."""
    rng = random.Random(2203)
    hours = rng.choices(range(24), weights=HOURLY, k=4096)
    kinds, weights = list(MAP_KINDS), list(MAP_KINDS.values())
    reports: list[dict[str, Any]] = []
    versions: list[dict[str, Any]] = []
    for n in range(1, count + 1):
        division = DIVISIONS[rng.randrange(len(DIVISIONS))]
        kind = rng.choices(kinds, weights=weights)[0]
        fields: dict[str, Any] = {"summary": f"Synthetic {kind.replace('_', ' ')} {n}"}
        point = None
        if rng.random() < 0.9:
            fields["location"], point = _location(rng, division)
        report, version = _filed(
            rng,
            reference=f"RPT-SYN-{n:07d}",
            kind=kind,
            fields=fields,
            division=division,
            by=_collar(rng),
            at=_moment(rng, hours),
            point=point,
        )
        reports.append(report)
        versions.append(version)
        if len(reports) == BATCH:
            _insert(database, FiledReport, reports)
            _insert(database, FiledReportVersion, versions)
            reports, versions = [], []
    _insert(database, FiledReport, reports)
    _insert(database, FiledReportVersion, versions)
    log(f"  {count:,} filed reports")


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{value:,} {key}" for key, value in sorted(counter.items()))


DEPARTMENT_TABLES = (
    "missing_person_cases",
    "missing_person_case_entries",
    "filed_reports",
    "filed_report_versions",
    "safeguarding_referrals",
)


def analyse(database: Database) -> None:
    """Statistics (and on PostgreSQL the visibility map) for the departments' tables after
    their bulk load, as for the transactions'."""
    engine = database.engine
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            for table in DEPARTMENT_TABLES:
                connection.execute(text(f"VACUUM ANALYZE {table}"))
    else:
        with engine.begin() as connection:
            for table in DEPARTMENT_TABLES:
                connection.execute(text(f"ANALYZE {table}"))


@dataclass(frozen=True)
class Target:
    """One view to measure: its page and its API route, and the role (and division) that may
    open them; `generate` fills what it reads beyond the transactions."""

    name: str
    page: str
    api: str
    role: str
    generate: Callable[[Database], None] | None = None


TARGETS = [
    Target("demand (one division, 14 days)", "/console/demand", "/api/v1/demand", "supervisor"),
    Target(
        "missing-persons board (open)",
        "/console/missing-persons",
        "/api/v1/missing-persons",
        "missing_persons",
        synthetic_cases,
    ),
    Target(
        "MASH queue (waiting)",
        "/console/mash",
        "/api/v1/safeguarding/referrals",
        "mash",
        synthetic_referrals,
    ),
    Target(
        "map (one division, 7 days)", "/console/map", "/api/v1/map", "supervisor", synthetic_reports
    ),
]


def timed(client: TestClient, url: str, runs: int, **kwargs: object) -> tuple[float, float]:
    """Median and 95th percentile milliseconds of `runs` requests, after two to warm up."""
    times = []
    for n in range(runs + 2):
        started = time.perf_counter()
        response = client.get(url, **kwargs)  # type: ignore[arg-type]
        elapsed = (time.perf_counter() - started) * 1000
        assert response.status_code == 200, (url, response.status_code, response.text[-300:])
        if n >= 2:
            times.append(elapsed)
    times.sort()
    return statistics.median(times), times[max(int(len(times) * 0.95) - 1, 0)]


def measure(app: object, runs: int) -> dict[str, dict[str, float]]:
    figures: dict[str, dict[str, float]] = {}
    with TestClient(app) as page_client, TestClient(app) as api_client:  # type: ignore[arg-type]
        base_p50, base_p95 = timed(api_client, "/api/v1/health", runs)
        print(f"{'baseline: GET /api/v1/health':40} p50 {base_p50:7.1f} ms  p95 {base_p95:7.1f} ms")
        figures["baseline"] = {"p50_ms": round(base_p50, 2), "p95_ms": round(base_p95, 2)}
        for target in TARGETS:
            user = create_staff(app, role=target.role, division=DIVISIONS[0])  # type: ignore[arg-type]
            token = bearer(app, user)  # type: ignore[arg-type]
            page_client.cookies.clear()
            sign_in(page_client, user.username)
            for kind, client, url, extra in (
                ("page", page_client, target.page, {}),
                ("API", api_client, target.api, {"headers": token}),
            ):
                p50, p95 = timed(client, url, runs, **extra)
                verdict = "meets" if p95 < 300 else "MISSES"
                print(
                    f"{target.name + ' ' + kind:40} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms   "
                    f"/baseline {p50 / base_p50:6.1f}x   {verdict} the 300 ms target"
                )
                figures[f"{target.name} {kind}"] = {
                    "p50_ms": round(p50, 1),
                    "p95_ms": round(p95, 1),
                    "ratio_p50": round(p50 / base_p50, 1),
                }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 months, 20 runs: a short run")
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--per-month", type=int, default=400_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--database-url", help="PostgreSQL (an empty database); default SQLite")
    args = parser.parse_args()
    if args.quick:
        args.months, args.runs = 2, 20
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        url = args.database_url or f"sqlite:///{directory}/iops.db"
        settings = make_settings(directory, database_url=url)
        engine = build_engine(settings)
        upgrade(engine)
        database = Database(engine)
        total = args.months * args.per_month
        log(f"loading {total:,} synthetic transactions ({engine.dialect.name})")
        per_s = load_history(database, args.months, args.per_month)
        log(f"  loaded at {per_s:,.0f} rows/s")
        started = time.perf_counter()
        for target in TARGETS:
            if target.generate is not None:
                log(f"generating for {target.name}")
                target.generate(database)
        analyse(database)
        departments_s = time.perf_counter() - started
        log(f"  departments' records loaded in {departments_s:.0f} s")
        app = create_app(settings, database=database, clock=FakeClock(NOW))
        figures = measure(app, args.runs)
    print(
        json.dumps(
            {
                "database": engine.dialect.name,
                "transactions": args.months * args.per_month,
                "months": args.months,
                "runs": args.runs,
                "load_rows_per_s": round(per_s),
                "departments_load_s": round(departments_s),
                "views": figures,
                "at": datetime.now(UTC).isoformat(timespec="seconds"),
            }
        )
    )


if __name__ == "__main__":
    main()
