"""Auditor search (docs/audit.md "Searching"): every filter, pages, CSV and JSON exports, the
audit record of each search, and the bad requests that change nothing."""

from __future__ import annotations

import csv
import functools
import io
import json
import unicodedata
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mdm_server.audit.search import CSV_COLUMNS, to_csv
from mdm_server.db import Database
from tests.conftest import FakeClock
from tests.factories.devices import SimulatedDevice
from tests.factories.secure import NEW_PIN, assign, enter, officer_with_pin, transact
from tests.factories.staff import headers_for
from tests.server.test_secure import INCIDENT_REPORT, Scene, make_scene
from tests.support import audit_events, error_of

SEARCH = "/api/v1/audit/search"


def person(surname: str, forename: str | None = None, born: str | None = None) -> dict[str, Any]:
    query: dict[str, Any] = {"surname": surname}
    query.update({"forename": forename} if forename else {})
    query.update({"date_of_birth": born} if born else {})
    return {"type": "person_search", "purpose": "INVESTIGATION", "query": query}


def vehicle(mark: str) -> dict[str, Any]:
    return {"type": "vehicle_search", "purpose": "ROAD_TRAFFIC", "query": {"registration": mark}}


class Force:
    """Two officers of two divisions taking turns on one device; the transaction ids each
    made, in order."""

    def __init__(self, scene: Scene) -> None:
        self.scene = scene
        self.north = scene.officer
        self.south = officer_with_pin(scene.app, scene.client, scene.admin, division="south")
        self.tokens: dict[str, str] = {}
        self.made: dict[str, list[str]] = {self.north.collar_number or "": []}
        self.made[self.south.collar_number or ""] = []
        self.started = scene.clock()

    def as_(self, officer: Any, body: dict[str, Any]) -> str:
        scene = self.scene
        scene.clock.advance(minutes=1)
        collar = officer.collar_number
        if collar not in self.tokens:
            assign(scene.client, scene.admin, scene.device, officer)
            opened = enter(
                scene.client,
                scene.device,
                collar,
                now=scene.clock(),
                new_pin=NEW_PIN,
                acknowledge_policy_text_version="2026.2",
            )
            assert opened.status_code == 201, opened.text
            self.tokens = {collar: opened.json()["session_token"]}
        response = transact(
            scene.client, scene.device, self.tokens[collar], body, now=scene.clock()
        )
        assert response.status_code == 200, response.text
        self.made[collar].append(response.json()["transaction_id"])
        return str(response.json()["transaction_id"])


@pytest.fixture
def force(
    app: FastAPI,
    client: TestClient,
    admin_headers: dict[str, str],
    enrolled: SimulatedDevice,
    clock: FakeClock,
) -> Force:
    force = Force(make_scene(app, client, admin_headers, enrolled, clock))
    force.as_(force.north, person("Example", "Sam"))
    force.as_(force.north, person("example ", "SAM", "1990-02-03"))
    force.as_(force.north, vehicle("ab12 cde"))
    force.as_(force.south, person("Example", "Alex"))
    force.as_(force.south, INCIDENT_REPORT)
    force.as_(force.south, vehicle("AB12CDE"))
    return force


@pytest.fixture
def auditor(app: FastAPI) -> dict[str, str]:
    return headers_for(app, "auditor")


def found(client: TestClient, auditor: dict[str, str], **params: Any) -> list[str]:
    """The transaction ids of the matching events, newest first."""
    response = client.get(SEARCH, params=params, headers=auditor)
    assert response.status_code == 200, response.text
    return [e["detail"]["transaction_id"] for e in response.json()["events"]]


def ids(force: Force, collar: str | None, *positions: int) -> list[str]:
    return [force.made[collar or ""][p] for p in positions]


class TestFilters:
    def test_by_officer_newest_first(
        self, client: TestClient, force: Force, auditor: dict[str, str]
    ) -> None:
        north = force.north.collar_number
        transactions = found(client, auditor, officer=north, action="transaction.*")
        assert transactions == ids(force, north, 2, 1, 0)

    def test_by_subject_at_each_level_of_detail(
        self, client: TestClient, force: Force, auditor: dict[str, str]
    ) -> None:
        north, south = force.north.collar_number, force.south.collar_number
        everyone = found(client, auditor, surname="EXAMPLE", action="transaction.*")
        assert everyone == ids(force, south, 0) + ids(force, north, 1, 0)
        sams = found(client, auditor, surname="Example", forename="sam")
        assert sams == ids(force, north, 1, 0)
        born = found(client, auditor, surname="Example", forename="Sam", date_of_birth="1990-02-03")
        assert born == ids(force, north, 1)
        cars = found(client, auditor, registration="AB 12CDE", action="transaction.*")
        assert cars == ids(force, south, 2) + ids(force, north, 2)
        assert found(client, auditor, surname="Nobody") == []

    def test_names_in_any_alphabet_match_however_they_were_typed(
        self, client: TestClient, force: Force, auditor: dict[str, str]
    ) -> None:
        """UK police records hold such names daily: each is accepted, kept in one form, and
        found by any spelling of it (decomposed or composed accents, a phone's apostrophe or
        the plain one, any case, stray spaces)."""
        nfd = functools.partial(unicodedata.normalize, "NFD")
        south = force.south.collar_number
        force.as_(force.south, person(nfd("Ó Briain"), nfd("Siân")))  # combining accents
        force.as_(force.south, person("O\u2019Neill", "Zoë"))  # a phone's apostrophe
        force.as_(force.south, person("Smith-Jones", "Łukasz"))
        force.as_(force.south, person("d'Arcy", "Siân", "1990-02-03"))
        assert found(client, auditor, surname="ó briain", forename="SIÂN") == ids(force, south, 3)
        assert found(client, auditor, surname="O'Neill") == ids(force, south, 4)
        assert found(client, auditor, surname=nfd("o\u2019neill"), forename=nfd("ZOË")) == ids(
            force, south, 4
        )
        assert found(client, auditor, surname="SMITH-JONES", forename="łukasz") == ids(
            force, south, 5
        )
        born = found(
            client, auditor, surname="D\u2019ARCY ", forename=" siân", date_of_birth="1990-02-03"
        )
        assert born == ids(force, south, 6)
        assert found(client, auditor, surname="Zoë") == []

    @pytest.mark.parametrize("surname", ["R2D2", "<script>", "Smith\x00", "-Smith", "Smith;"])
    def test_what_is_no_name_is_refused_saying_why(
        self, client: TestClient, auditor: dict[str, str], surname: str
    ) -> None:
        response = client.get(SEARCH, params={"surname": surname}, headers=auditor)
        assert response.status_code == 422, response.text
        [problem] = response.json()["detail"]
        assert problem["field"] == "query.surname"
        assert "letter" in problem["problem"]

    def test_by_type_purpose_division_device_and_time(
        self, client: TestClient, force: Force, auditor: dict[str, str]
    ) -> None:
        north, south = force.north.collar_number, force.south.collar_number
        assert found(client, auditor, type="vehicle_search") == ids(force, south, 2) + ids(
            force, north, 2
        )
        assert found(client, auditor, purpose="ROAD_TRAFFIC") == found(
            client, auditor, type="vehicle_search"
        )
        assert found(client, auditor, division="south", action="transaction.*") == ids(
            force, south, 2, 1, 0
        )
        device = str(force.scene.device.device_id)
        assert len(found(client, auditor, device=device, action="transaction.*")) == 6
        # The fixture's transactions are at 1, 2, ... 6 minutes after `started`.
        start = (force.started + timedelta(minutes=3)).isoformat()
        end = (force.started + timedelta(minutes=5)).isoformat()
        window = found(client, auditor, **{"from": start, "to": end, "action": "transaction.*"})
        assert window == ids(force, south, 0) + ids(force, north, 2)

    def test_pages_walk_every_match_once(
        self, client: TestClient, force: Force, auditor: dict[str, str]
    ) -> None:
        seen: list[int] = []
        before: int | None = None
        while True:
            params: dict[str, Any] = {"action": "transaction.*", "limit": 4}
            if before is not None:
                params["before"] = before
            page = client.get(SEARCH, params=params, headers=auditor).json()
            seen += [event["seq"] for event in page["events"]]
            before = page["next_before"]
            if before is None:
                break
        assert len(seen) == 6
        assert seen == sorted(seen, reverse=True)

    def test_events_are_their_canonical_documents(
        self, client: TestClient, force: Force, auditor: dict[str, str], database: Database
    ) -> None:
        page = client.get(SEARCH, params={"action": "transaction.*"}, headers=auditor).json()
        stored = {event.seq: json.loads(event.canonical) for event in audit_events(database)}
        for event in page["events"]:
            assert event == stored[event["seq"]]
            keys = event["detail"]["subject_keys"]
            assert (
                len(keys)
                == {
                    "person_search": len(event["detail"]["subject"]),  # one per level of detail
                    "vehicle_search": 1,
                    "incident_report": 1,  # names nobody; keyed by the reference it was filed as
                }[event["detail"]["type"]]
            )
            assert all(len(key) == 32 for key in keys)
            assert "example" not in json.dumps(keys).casefold()


class TestEverySearchIsAudited:
    def test_the_search_is_an_event_findable_by_its_subject(
        self, client: TestClient, force: Force, auditor: dict[str, str], database: Database
    ) -> None:
        found(client, auditor, surname="Example", forename="Sam")
        (searched,) = audit_events(database, "audit.searched")
        assert searched.actor_role == "auditor"
        assert searched.detail["filters"] == {"subject": {"surname": "Example", "forename": "Sam"}}
        assert searched.detail["found"] == 2
        # Who searched for Sam Example: the officer and, now, the auditor.
        response = client.get(
            SEARCH, params={"surname": "Example", "forename": "Sam"}, headers=auditor
        )
        actions = [event["action"] for event in response.json()["events"]]
        assert actions == [
            "audit.searched",
            "transaction.person_search",
            "transaction.person_search",
        ]

    @pytest.mark.parametrize(
        ("params", "status", "says"),
        [
            ({"officer": "not a collar"}, 422, "officer"),
            ({"forename": "Sam"}, 400, "'forename' needs 'surname'"),
            ({"surname": "A", "date_of_birth": "1990-01-01"}, 400, "needs 'surname' and"),
            ({"surname": "A", "registration": "AB12CDE"}, 400, "one subject at a time"),
            ({"from": "2026-11-21T00:00:00"}, 400, "needs a time zone"),
            ({"from": "2026-11-21T00:00:00Z", "to": "2026-11-20T00:00:00Z"}, 400, "after"),
            ({"limit": 0}, 422, "limit"),
            ({"limit": 501}, 422, "limit"),
            ({"type": "tarot_reading"}, 422, "type"),
            ({"action": "DROP TABLE"}, 422, "action"),
            ({"date_of_birth": "31/12/1990", "surname": "A", "forename": "B"}, 422, "date"),
        ],
    )
    def test_bad_searches_say_what_to_fix_and_record_nothing(
        self,
        client: TestClient,
        auditor: dict[str, str],
        database: Database,
        params: dict[str, Any],
        status: int,
        says: str,
    ) -> None:
        urls = [SEARCH] if "limit" in params else [SEARCH, SEARCH + "/export"]
        for url in urls:  # a page's limit is the one parameter an export has not
            response = client.get(url, params=params, headers=auditor)
            assert response.status_code == status, response.text
            assert says in json.dumps(response.json()["detail"])
        assert audit_events(database, "audit.searched") == []
        assert audit_events(database, "audit.search_exported") == []

    @pytest.mark.parametrize("role", ["it_admin", "supervisor", "officer"])
    def test_only_auditors_search(self, app: FastAPI, client: TestClient, role: str) -> None:
        for url in (SEARCH, SEARCH + "/export"):
            response = client.get(url, headers=headers_for(app, role))
            assert response.status_code == 403
            assert error_of(response) == "forbidden"
            assert client.get(url).status_code == 401


class TestExport:
    def test_csv_has_every_match_oldest_first(
        self, client: TestClient, force: Force, auditor: dict[str, str], database: Database
    ) -> None:
        response = client.get(
            SEARCH + "/export", params={"action": "transaction.*"}, headers=auditor
        )
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        assert ".csv" in response.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(response.text)))
        assert tuple(rows[0]) == CSV_COLUMNS
        assert [row["officer"] for row in rows] == [force.north.collar_number] * 3 + [
            force.south.collar_number
        ] * 3
        assert [json.loads(row["detail"])["transaction_id"] for row in rows[:3]] == ids(
            force, force.north.collar_number, 0, 1, 2
        )
        (exported,) = audit_events(database, "audit.search_exported")
        assert exported.detail == {
            "filters": {"action": "transaction.*"},
            "found": 6,
            "output": "csv",
        }

    def test_json_has_every_match_with_its_filters(
        self, client: TestClient, force: Force, auditor: dict[str, str]
    ) -> None:
        params = {"format": "json", "division": "south", "action": "transaction.*"}
        response = client.get(SEARCH + "/export", params=params, headers=auditor)
        body = response.json()
        assert body["filters"] == {"division": "south", "action": "transaction.*"}
        assert [e["detail"]["transaction_id"] for e in body["events"]] == ids(
            force, force.south.collar_number, 0, 1, 2
        )

    def test_a_bad_format_is_refused(self, client: TestClient, auditor: dict[str, str]) -> None:
        response = client.get(SEARCH + "/export", params={"format": "xml"}, headers=auditor)
        assert response.status_code == 422

    def test_cells_a_spreadsheet_would_run_are_text(self) -> None:
        event = {
            "seq": 1,
            "time": "2026-11-21T00:00:00.000000Z",
            "action": "transaction.incident_report",
            "actor": {"type": "staff", "name": '=HYPERLINK("http://x")', "role": "officer"},
            "target": None,
            "detail": {"purpose": "+1", "collar_number": "@a", "outcome": "-2", "division": "ok"},
        }
        (row,) = csv.DictReader(io.StringIO(to_csv([event]).decode()))
        assert row["actor_name"] == '\'=HYPERLINK("http://x")'
        assert (row["purpose"], row["officer"], row["outcome"]) == ("'+1", "'@a", "'-2")
        assert row["division"] == "ok"
