"""The console's server time on a force-sized install: 10,000 devices and 1,000,000 audit
events on SQLite.

For each page (the fleet overview, the device list, a division's demand, an officer's audit
search) the server's time to answer, measured in process (the app called through its ASGI
interface, as a browser's request would reach it after the network), median and 95th
percentile over `--runs` requests. The baseline, in the same run: the JSON API route the page
stands for (the page calls that route's function, then draws), so the ratio is what drawing
the page adds.

Ends with one JSON line.

    python bench/console.py [--devices 10000] [--events 1000000] [--runs 30]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from audit import OFFICERS, START, rate, write  # bench/audit.py: the same million events
from fastapi.testclient import TestClient
from sqlalchemy import insert

from mdm_server.auth.models import StaffUser
from mdm_server.db import Database, build_engine
from mdm_server.devices.models import Device
from mdm_server.main import create_app
from mdm_server.migrate import upgrade
from tests.conftest import FakeClock, make_settings
from tests.factories.staff import PASSWORD, bearer, create_staff

MODELS = [
    ("SM-J530F", "9", 28),
    ("SM-J530F", "7.0", 24),
    ("SM-J510FN", "7.1.1", 25),
    ("SM-T580", "8.1.0", 27),
]
COMPLIANCE = ["compliant"] * 14 + ["in_grace", "incompatible", "non_compliant", "unknown", None]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def fill_fleet(database: Database, devices: int, now: datetime) -> None:
    """Officers for the events' collar numbers, and `devices` devices assigned to them."""
    rng = random.Random(11)
    officers = [
        {
            "id": uuid.uuid4(),
            "username": f"pc{collar}",
            "display_name": "",
            "role": "officer",
            "collar_number": collar,
            "division": f"D{n % 12}",
            "must_change_password": False,
            "sessions_valid_after": now,
            "created_at": now,
        }
        for n, collar in enumerate(OFFICERS)
    ]
    rows = []
    for n in range(devices):
        model, android, sdk = MODELS[n % len(MODELS)]
        seen = now - timedelta(minutes=rng.expovariate(1 / 600)) if n % 40 else None
        rows.append(
            {
                "id": uuid.uuid4(),
                "serial": f"R58M{n:08d}",
                "imei": None,
                "manufacturer": "samsung",
                "model": model,
                "android_version": android,
                "sdk": sdk,
                "security_patch": date(2019, 1, 1) + timedelta(days=rng.randint(0, 2500)),
                "warranty_bit": 0,
                "state": "active" if n % 50 else "retired",
                "group_name": f"group-{n % 30}",
                "officer_id": officers[n % len(officers)]["id"],
                "enrolled_at": now - timedelta(days=rng.randint(1, 900)),
                "last_seen_at": seen,
                "compliance_status": COMPLIANCE[n % len(COMPLIANCE)],
            }
        )
    with database.unit_of_work() as session:
        session.execute(insert(StaffUser), officers)
        session.execute(insert(Device), rows)


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
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


def sign_in(client: TestClient, username: str) -> None:
    page = client.get("/console/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    signed = client.post(
        "/console/login",
        data={"username": username, "password": PASSWORD, "csrf_token": token.group(1)},
        follow_redirects=False,
    )
    assert signed.status_code == 303, signed.text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        settings = make_settings(directory, database_url=f"sqlite:///{directory}/console.db")
        engine = build_engine(settings)
        upgrade(engine)
        database = Database(engine)
        now = START + timedelta(seconds=args.events * 2 + 60)
        clock = FakeClock(now)
        started = time.perf_counter()
        written = 0
        while written < args.events:
            count = min(100_000, args.events - written)
            write(database, written, count, 1000)
            written += count
            per_s = rate(written, time.perf_counter() - started)
            log(f"  {written:,} audit events ({per_s:,.0f}/s)")
        fill_fleet(database, args.devices, now)
        log(f"{args.devices:,} devices; building took {time.perf_counter() - started:.0f} s")

        app = create_app(settings, database=database, clock=clock)
        with TestClient(app) as page_client, TestClient(app) as api_client:
            admin = create_staff(app, role="it_admin")
            auditor = create_staff(app, role="auditor")
            supervisor = create_staff(app, role="supervisor", division="D0")
            admin_api = bearer(app, admin)
            auditor_api = bearer(app, auditor)
            supervisor_api = bearer(app, supervisor)
            officer = OFFICERS[123]
            figures = {}
            for name, page, api, user, token in (
                ("fleet overview", "/console/fleet", "/api/v1/fleet/summary", admin, admin_api),
                ("device list", "/console/devices", "/api/v1/devices?limit=50", admin, admin_api),
                (
                    "demand (one division, 14 days)",
                    "/console/demand",
                    "/api/v1/demand?days=14",
                    supervisor,
                    supervisor_api,
                ),
                (
                    "audit search (one officer)",
                    f"/console/audit?officer={officer}",
                    f"/api/v1/audit/search?officer={officer}&limit=50",
                    auditor,
                    auditor_api,
                ),
            ):
                page_client.cookies.clear()
                sign_in(page_client, user.username)
                page_p50, page_p95 = timed(page_client, page, args.runs)
                api_p50, api_p95 = timed(api_client, api, args.runs, headers=token)
                figures[name] = {
                    "page_p50_ms": round(page_p50, 1),
                    "page_p95_ms": round(page_p95, 1),
                    "api_p50_ms": round(api_p50, 1),
                    "api_p95_ms": round(api_p95, 1),
                    "ratio": round(page_p50 / api_p50, 2),
                }
                print(
                    f"{name:31} page p50 {page_p50:7.1f} ms  p95 {page_p95:7.1f} ms   "
                    f"API (baseline) p50 {api_p50:7.1f} ms  p95 {api_p95:7.1f} ms   "
                    f"page/API {page_p50 / api_p50:.2f}   target < 300 ms"
                )
    print(
        json.dumps(
            {
                "devices": args.devices,
                "events": args.events,
                "runs": args.runs,
                "pages": figures,
                "at": datetime.now(UTC).isoformat(timespec="seconds"),
            }
        )
    )


if __name__ == "__main__":
    main()
