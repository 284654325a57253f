"""iOPS views on a force-sized history: 400,000 secure-side transactions a month for 12 months
(clearly synthetic: audit index rows with made-up officers, spread over 12 divisions, with an
afternoon and evening peak), then the supervisor's demand page and the demand API for one
division, median and 95th percentile over `--runs` requests each, in process (the app called
through its ASGI interface, as a request reaches it after the network). The baseline, in the
same run: the plain API route the other benches use (GET /api/v1/health). Target: 300 ms at
p95 for each view.

The rows go only into the table the views read (`audit_index`): executemany on SQLite, COPY on
PostgreSQL. Each view is a `Target` (its generator, its URLs, who may open it); the
missing-persons board, the MASH queue and the map join `TARGETS` with their generators (5,000
cases, 20,000 referrals) as those views land.

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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from console import sign_in  # bench/console.py: a console sign-in
from fastapi.testclient import TestClient
from sqlalchemy import text

from mdm_server.db import Database, build_engine
from mdm_server.main import create_app
from mdm_server.migrate import upgrade
from tests.conftest import FakeClock, make_settings
from tests.factories.staff import bearer, create_staff

NOW = datetime(2026, 12, 4, 17, 30, tzinfo=UTC)
DIVISIONS = [f"D{n}" for n in range(12)]
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
    # The missing-persons board (5,000 cases), the MASH queue (20,000 referrals) and the
    # map join here, each with its generator, as those views land.
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
        for target in TARGETS:
            if target.generate is not None:
                target.generate(database)
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
                "views": figures,
                "at": datetime.now(UTC).isoformat(timespec="seconds"),
            }
        )
    )


if __name__ == "__main__":
    main()
