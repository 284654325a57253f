"""The supervisors' demand view over the API (`GET /api/v1/demand`): answered transactions
counted, refused ones apart and never in a total, buckets oldest first with the current hour
(and today) last; and the audit index's outcome filled in for events recorded before it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import insert, text
from sqlalchemy.engine import Engine

from mdm_server.audit.canonical import canonical_bytes
from mdm_server.audit.models import AuditEvent
from mdm_server.audit.service import Actor, canonical_document, record
from mdm_server.db import build_engine
from mdm_server.migrate import upgrade
from tests.audit.log import NOW
from tests.conftest import FakeClock, dispose_engine, make_settings
from tests.databases import PostgresDatabases
from tests.factories.devices import SimulatedDevice
from tests.factories.staff import context_of, headers_for
from tests.server.test_audit_search import person, vehicle
from tests.server.test_secure import Scene, make_scene

DEMAND = "/api/v1/demand"
REFUSED_VEHICLE = {**vehicle("AB12CDE"), "purpose": "SAFEGUARDING"}  # not a vehicle purpose
REFUSED_PERSON = {**person("Example"), "purpose": "ROAD_TRAFFIC"}  # not a person purpose
SAFEGUARDING_SEARCH = {**person("Example", "Sam"), "purpose": "SAFEGUARDING"}


def demand_of(scene: Scene, **params: Any) -> dict[str, Any]:
    supervisor = headers_for(scene.app, "supervisor", division=scene.officer.division)
    response = scene.client.get(DEMAND, params=params, headers=supervisor)
    assert response.status_code == 200, response.text
    return dict(response.json())


def by_type(buckets: dict[str, Any]) -> dict[str, list[int]]:
    return {one["type"]: one["counts"] for one in buckets["series"]}


def transact(scene: Scene, token: str, body: dict[str, Any], status: int) -> None:
    response = scene.transact(token, body)
    assert response.status_code == status, response.text


@pytest.fixture
def scene(
    app: FastAPI,
    client: TestClient,
    admin_headers: dict[str, str],
    enrolled: SimulatedDevice,
    clock: FakeClock,
) -> Scene:
    return make_scene(app, client, admin_headers, enrolled, clock)


@pytest.fixture
def made(scene: Scene) -> Scene:
    """Two answered searches (one for safeguarding) and two the policy refused, all now."""
    token = str(scene.first_entry()["session_token"])
    transact(scene, token, person("Alpha"), 200)
    transact(scene, token, SAFEGUARDING_SEARCH, 200)
    transact(scene, token, REFUSED_PERSON, 403)
    transact(scene, token, REFUSED_VEHICLE, 403)
    return scene


class TestDemand:
    def test_counts_answered_transactions_and_refused_ones_apart(self, made: Scene) -> None:
        demand = demand_of(made)
        for buckets in (demand["hourly"], demand["daily"]):
            assert by_type(buckets) == {"person_search": [0] * (len(buckets["starts"]) - 1) + [2]}
            assert buckets["total"] == 2  # answered only
            assert buckets["refused"][-1] == 2 and buckets["refused_total"] == 2
            assert buckets["unanswered_total"] == 0
        assert "vehicle_search" not in by_type(demand["daily"])
        assert sum(demand["workload"]["safeguarding"]) == 1  # the refused one is no work done

    def test_buckets_run_oldest_first_with_the_current_hour_and_today_last(
        self, made: Scene
    ) -> None:
        now = made.clock()
        demand = demand_of(made, days=7)
        hours = [start for start in demand["hourly"]["starts"]]
        days = [start for start in demand["daily"]["starts"]]
        assert (len(hours), len(days)) == (24, 7)
        assert hours == sorted(hours) and days == sorted(days)
        this_hour = now.replace(minute=0, second=0).isoformat().replace("+00:00", "Z")
        assert hours[-1] == this_hour
        assert days[-1].startswith(now.date().isoformat())
        made.clock.advance(hours=3)
        later = demand_of(made, days=7)["hourly"]
        assert by_type(later)["person_search"][-4:] == [2, 0, 0, 0]
        assert later["refused"][-4:] == [2, 0, 0, 0]

    def test_each_transaction_falls_in_its_own_hour_and_day(
        self, app: FastAPI, client: TestClient, clock: FakeClock
    ) -> None:
        clock.now = datetime(2026, 12, 4, 17, 30, tzinfo=UTC)
        at = {
            "this hour": (datetime(2026, 12, 4, 17, 5, tzinfo=UTC), "answered"),
            "after midnight": (datetime(2026, 12, 4, 0, 10, tzinfo=UTC), "answered"),
            "before midnight": (datetime(2026, 12, 3, 23, 59, tzinfo=UTC), "refused:x"),
            "25 hours ago": (datetime(2026, 12, 3, 16, 0, tzinfo=UTC), "answered"),
            "13 days ago": (datetime(2026, 11, 21, 12, 0, tzinfo=UTC), "answered"),
            "14 days ago": (datetime(2026, 11, 20, 23, 59, tzinfo=UTC), "answered"),
            "elsewhere": (datetime(2026, 12, 4, 17, 6, tzinfo=UTC), "answered"),
        }
        with context_of(app).database.unit_of_work() as session:
            for name, (when, outcome) in at.items():
                detail = {"type": "vehicle_search", "purpose": "ROAD_TRAFFIC", "outcome": outcome}
                detail["division"] = "south" if name == "elsewhere" else "north"
                record(session, actor=Actor.system("t"), action="transaction.vehicle_search",
                       now=when, detail=detail)  # fmt: skip
        supervisor = headers_for(app, "supervisor", division="north")
        demand = client.get(DEMAND, params={"days": 14}, headers=supervisor).json()
        hourly, daily = demand["hourly"], demand["daily"]
        assert hourly["starts"][0] == "2026-12-03T18:00:00Z"
        assert hourly["starts"][-1] == "2026-12-04T17:00:00Z"
        answered = by_type(hourly)["vehicle_search"]
        assert [i for i, n in enumerate(answered) if n] == [6, 23]  # 00:00 and 17:00
        assert [i for i, n in enumerate(hourly["refused"]) if n] == [5]  # 23:00
        assert daily["starts"][0] == "2026-11-21T00:00:00Z"
        assert by_type(daily)["vehicle_search"] == [1] + [0] * 11 + [1, 2]
        assert daily["refused"] == [0] * 12 + [1, 0]
        assert daily["total"] == 4 and daily["refused_total"] == 1


def old_event(seq: int, action: str, detail: dict[str, Any]) -> dict[str, Any]:
    event = AuditEvent(
        seq=seq,
        event_id=uuid.uuid4(),
        occurred_at=NOW,
        actor_type="system",
        action=action,
        detail=detail,
        canonical="",
    )
    event.canonical = canonical_bytes(canonical_document(event)).decode()
    return event.model_dump()


def fresh(backend: str, tmp_path: Path, postgres: PostgresDatabases | None) -> Engine:
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path}/old.db"
    else:
        assert postgres is not None
        url = postgres.create()
    return build_engine(make_settings(tmp_path, database_url=url))


class TestOutcomeInTheIndex:
    def test_events_recorded_before_it_get_their_outcome(
        self, backend: str, tmp_path: Path, postgres: PostgresDatabases | None
    ) -> None:
        engine = fresh(backend, tmp_path, postgres)
        upgrade(engine, "0010")
        details = [
            ("transaction.person_search", {"type": "person_search", "outcome": "answered"}),
            ("transaction.vehicle_search", {"type": "vehicle_search", "outcome": "refused:x"}),
            ("device.enrolled", {"outcome": "not a transaction"}),
        ]
        with engine.begin() as connection:
            for seq, (action, detail) in enumerate(details, start=1):
                connection.execute(insert(AuditEvent), [old_event(seq, action, detail)])
                connection.execute(
                    text(
                        "INSERT INTO audit_index (seq, occurred_at, action) "
                        "VALUES (:seq, :at, :action)"
                    ),
                    {"seq": seq, "at": NOW - timedelta(seconds=seq), "action": action},
                )
            connection.execute(text("UPDATE audit_head SET last_seq = 3"))
        upgrade(engine)
        with engine.connect() as connection:
            outcomes = connection.execute(
                text("SELECT outcome FROM audit_index ORDER BY seq")
            ).scalars()
            assert list(outcomes) == ["answered", "refused:x", None]
        if backend == "postgresql":  # the index is append-only again
            with pytest.raises(Exception, match="append-only"), engine.begin() as connection:
                connection.execute(text("UPDATE audit_index SET outcome = 'answered'"))
        dispose_engine(engine, postgres)
