"""Appropriate use on the server (docs/appropriate-use.md): the directory held as keys, flags
raised as transactions are recorded and by the nightly review, the review workflow, and the
random justification sample answered through the device."""

from __future__ import annotations

import copy
import functools
import json
import unicodedata
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from mdm_server.appropriate_use.models import DirectoryEntry, RosterShift
from mdm_server.audit.service import Actor, record
from mdm_server.db import Database
from mdm_server.scheduler.jobs import review_appropriate_use
from tests.conftest import FakeClock
from tests.factories.devices import SimulatedDevice
from tests.factories.secure import officer_with_pin
from tests.factories.staff import context_of, headers_for
from tests.server.test_audit_search import person, vehicle
from tests.server.test_policies import put_policy
from tests.server.test_secure import POLICY, Scene, make_scene
from tests.support import audit_events, error_of

WATCHFUL = copy.deepcopy(POLICY)
WATCHFUL["name"] = "watchful"
WATCHFUL["appropriate_use"]["rules"] = {
    "self_search": True,
    "colleague_search": True,
    "declared_association": True,
    "protected_person": True,
    "outside_shift": True,
    "outside_shift_grace_minutes": 30,
    "non_compliant_device": True,
}
DIRECTORY = "/api/v1/audit/directory"
FLAGS = "/api/v1/audit/flags"


@pytest.fixture
def scene(
    app: FastAPI,
    client: TestClient,
    admin_headers: dict[str, str],
    enrolled: SimulatedDevice,
    clock: FakeClock,
) -> Scene:
    return make_scene(app, client, admin_headers, enrolled, clock, policy=WATCHFUL)


@pytest.fixture
def auditor(app: FastAPI) -> dict[str, str]:
    return headers_for(app, "auditor")


@pytest.fixture
def token(scene: Scene) -> str:
    return str(scene.first_entry()["session_token"])


def load(client: TestClient, auditor: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    response = client.put(DIRECTORY, json=body, headers=auditor)
    assert response.status_code == 200, response.text
    return dict(response.json())


def searched(scene: Scene, token: str, body: dict[str, Any]) -> str:
    """The audit event id of the transaction."""
    response = scene.transact(token, body)
    assert response.status_code == 200, response.text
    return str(response.json()["transaction_id"])


def event_id_of(database: Database, transaction_id: str) -> str:
    (event,) = [
        e
        for e in audit_events(database)
        if e.action.startswith("transaction.") and e.detail["transaction_id"] == transaction_id
    ]
    return str(event.event_id)


def queue(client: TestClient, auditor: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    response = client.get(FLAGS, params=params, headers=auditor)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def own(collar: str | None, **entry: Any) -> dict[str, Any]:
    return {"officers": {collar: entry}}


SAM = {"surname": "Example", "forename": "Sam", "date_of_birth": "1990-02-03"}


class TestDirectory:
    def test_names_become_keys_and_go_no_further(
        self, client: TestClient, auditor: dict[str, str], database: Database, scene: Scene
    ) -> None:
        counts = load(
            client,
            auditor,
            {
                "officers": {
                    scene.officer.collar_number: {
                        "own": [SAM],
                        "associations": [{"surname": "Doe", "forename": "Jo"}],
                        "shifts": [
                            {"start": "2026-11-21T07:00:00Z", "end": "2026-11-21T17:00:00Z"}
                        ],
                    }
                },
                "protected": [{"registration": "PR07 ECT"}],
            },
        )
        assert counts == {
            "officers": 1,
            "own_records": 1,
            "associations": 1,
            "protected": 1,
            "shifts": 1,
        }
        with database.unit_of_work(write=False) as session:
            entries = session.exec(select(DirectoryEntry)).all()
            assert len(session.exec(select(RosterShift)).all()) == 1
        # Sam: name, and name with date of birth; Jo Doe: name; the vehicle: one.
        assert sorted(e.kind for e in entries) == ["association", "own", "own", "protected"]
        assert all(len(e.subject) == 32 for e in entries)
        stored = json.dumps([e.model_dump(mode="json") for e in entries]).casefold()
        assert "example" not in stored and "pr07" not in stored
        (loaded,) = audit_events(database, "appropriate_use.directory_loaded")
        assert loaded.detail == counts
        assert "example" not in loaded.canonical.casefold()

    def test_loading_replaces_what_was_there(
        self, client: TestClient, auditor: dict[str, str], database: Database, scene: Scene
    ) -> None:
        load(client, auditor, own(scene.officer.collar_number, own=[SAM]))
        load(client, auditor, {"protected": [{"registration": "AB12CDE"}]})
        with database.unit_of_work(write=False) as session:
            assert [e.kind for e in session.exec(select(DirectoryEntry)).all()] == ["protected"]

    @pytest.mark.parametrize(
        ("body", "says"),
        [
            ({"protected": [{"surname": "Doe"}]}, "surname and forename"),
            (
                {"protected": [{"surname": "Doe", "forename": "Jo", "registration": "AB12"}]},
                "not both",
            ),
            (
                {"protected": [{"registration": "AB12", "date_of_birth": "1990-01-01"}]},
                "date_of_birth is for a person",
            ),
            ({"officers": {"bad collar": {}}}, "officers"),
            (
                {
                    "officers": {
                        "1": {
                            "shifts": [
                                {"start": "2026-11-21T09:00:00Z", "end": "2026-11-21T08:00:00Z"}
                            ]
                        }
                    }
                },
                "end must be after start",
            ),
            (
                {
                    "officers": {
                        "1": {
                            "shifts": [
                                {"start": "2026-11-21T09:00:00", "end": "2026-11-21T10:00:00"}
                            ]
                        }
                    }
                },
                "timezone",
            ),
            ({"people": []}, "people"),
        ],
    )
    def test_bad_loads_say_what_to_fix_and_keep_the_old_directory(
        self,
        client: TestClient,
        auditor: dict[str, str],
        database: Database,
        scene: Scene,
        body: dict[str, Any],
        says: str,
    ) -> None:
        load(client, auditor, own(scene.officer.collar_number, own=[SAM]))
        response = client.put(DIRECTORY, json=body, headers=auditor)
        assert response.status_code == 422
        assert says in json.dumps(response.json()["detail"])
        with database.unit_of_work(write=False) as session:
            assert len(session.exec(select(DirectoryEntry)).all()) == 2

    @pytest.mark.parametrize("role", ["it_admin", "supervisor", "officer"])
    def test_only_auditors(self, app: FastAPI, client: TestClient, role: str) -> None:
        headers = headers_for(app, role)
        assert client.put(DIRECTORY, json={}, headers=headers).status_code == 403
        assert client.get(FLAGS, headers=headers).status_code == 403
        assert client.get("/api/v1/audit/justifications", headers=headers).status_code == 403


class TestFlagsAtIngestion:
    def test_a_self_search_is_flagged_with_its_evidence(
        self,
        client: TestClient,
        auditor: dict[str, str],
        database: Database,
        scene: Scene,
        token: str,
    ) -> None:
        load(client, auditor, own(scene.officer.collar_number, own=[SAM]))
        first = searched(scene, token, person("example", "SAM"))
        second = searched(scene, token, person("Example", "Sam", "1990-02-03"))
        searched(scene, token, person("Example", "Alex"))  # not the officer
        (flag,) = queue(client, auditor)
        assert (flag["rule"], flag["officer"], flag["status"]) == (
            "self_search",
            scene.officer.collar_number,
            "open",
        )
        assert flag["evidence_count"] == 2
        detail = client.get(f"{FLAGS}/{flag['id']}", headers=auditor).json()
        evidence = [e["detail"]["transaction_id"] for e in detail["evidence"]]
        assert evidence == [first, second]
        raised = audit_events(database, "appropriate_use.flag_raised")
        updated = audit_events(database, "appropriate_use.flag_updated")
        assert [e.detail["evidence"] for e in raised] == [[event_id_of(database, first)]]
        assert [e.detail["evidence"] for e in updated] == [[event_id_of(database, second)]]
        (read,) = audit_events(database, "appropriate_use.flag_read")
        assert read.target_id == flag["id"]

    def test_colleague_association_and_protected_vehicle(
        self,
        app: FastAPI,
        client: TestClient,
        auditor: dict[str, str],
        scene: Scene,
        token: str,
    ) -> None:
        colleague = officer_with_pin(app, client, scene.admin)
        load(
            client,
            auditor,
            {
                "officers": {
                    scene.officer.collar_number: {
                        "associations": [{"surname": "Doe", "forename": "Jo"}]
                    },
                    colleague.collar_number: {"own": [{"surname": "Pal", "forename": "Chris"}]},
                },
                "protected": [{"registration": "PR07 ECT"}],
            },
        )
        searched(scene, token, person("Doe", "Jo", "1980-01-01"))
        searched(scene, token, person("Pal", "Chris"))
        searched(scene, token, vehicle("pr07ect"))
        flags = {f["rule"]: f for f in queue(client, auditor)}
        assert set(flags) == {"declared_association", "colleague_search", "protected_person"}
        assert flags["colleague_search"]["detail"]["colleague"] == colleague.collar_number
        assert flags["declared_association"]["score"] > flags["protected_person"]["score"]

    def test_directory_names_in_any_alphabet_match_however_searches_spell_them(
        self, client: TestClient, auditor: dict[str, str], scene: Scene, token: str
    ) -> None:
        nfd = functools.partial(unicodedata.normalize, "NFD")
        loaded = load(
            client,
            auditor,
            {
                "officers": {
                    scene.officer.collar_number: {
                        "associations": [{"surname": nfd("Ó Briain"), "forename": "Siân"}]
                    }
                },
                "protected": [{"surname": "O\u2019Neill-Łukasz", "forename": "Zoë"}],
            },
        )
        assert (loaded["associations"], loaded["protected"]) == (1, 1)
        searched(scene, token, person("ó briain", nfd("SIÂN")))
        searched(scene, token, person("o'neill-łukasz", "ZOË"))
        flags = {f["rule"] for f in queue(client, auditor)}
        assert flags == {"declared_association", "protected_person"}

    def test_outside_the_roster_but_not_inside_it(
        self, client: TestClient, auditor: dict[str, str], scene: Scene, token: str
    ) -> None:
        now = scene.clock()
        shift = {
            "start": (now + timedelta(hours=2)).isoformat(),
            "end": (now + timedelta(hours=10)).isoformat(),
        }
        load(client, auditor, own(scene.officer.collar_number, shifts=[shift]))
        searched(scene, token, vehicle("AB12CDE"))
        (flag,) = queue(client, auditor)
        assert flag["rule"] == "outside_shift"
        assert flag["key"] == flag["detail"]["day"]
        shift["start"] = (now - timedelta(hours=1)).isoformat()
        load(client, auditor, own(scene.officer.collar_number, shifts=[shift]))
        searched(scene, token, vehicle("AB12CDE"))
        assert queue(client, auditor)[0]["evidence_count"] == 1  # the second was on shift

    def test_nothing_is_flagged_without_a_match(
        self,
        client: TestClient,
        auditor: dict[str, str],
        database: Database,
        scene: Scene,
        token: str,
    ) -> None:
        load(client, auditor, own(scene.officer.collar_number, own=[SAM]))
        searched(scene, token, person("Example"))  # surname alone names nobody in particular
        searched(scene, token, person("Nobody", "In-Particular"))
        assert queue(client, auditor, status="all") == []
        assert audit_events(database, "appropriate_use.flag_raised") == []


class TestReview:
    @pytest.fixture
    def flag_id(self, client: TestClient, auditor: dict[str, str], scene: Scene, token: str) -> str:
        load(client, auditor, own(scene.officer.collar_number, own=[SAM]))
        searched(scene, token, person("Example", "Sam"))
        (flag,) = queue(client, auditor)
        return str(flag["id"])

    def review(
        self, client: TestClient, auditor: dict[str, str], flag_id: str, decision: str, note: str
    ) -> Any:
        return client.post(
            f"{FLAGS}/{flag_id}/review", json={"decision": decision, "note": note}, headers=auditor
        )

    def test_open_dismissed_reopened_escalated_dismissed_with_notes(
        self, client: TestClient, auditor: dict[str, str], database: Database, flag_id: str
    ) -> None:
        steps = [
            ("dismissed", "Officer was checking their own warrant status: legitimate."),
            ("open", "Reopened: the officer's supervisor disputes that account."),
            ("escalated", "Referred to the counter-corruption unit."),
            ("dismissed", "Investigation found a lawful policing purpose."),
        ]
        for decision, note in steps:
            response = self.review(client, auditor, flag_id, decision, note)
            assert response.status_code == 200, response.text
            assert response.json()["status"] == decision
        noted = client.post(
            f"{FLAGS}/{flag_id}/notes", json={"note": "Filed with case 2026/118."}, headers=auditor
        )
        assert noted.status_code == 201 and noted.json()["status"] == "dismissed"
        notes = client.get(f"{FLAGS}/{flag_id}", headers=auditor).json()["notes"]
        assert [(n["status_from"], n["status_to"]) for n in notes] == [
            ("open", "dismissed"),
            ("dismissed", "open"),
            ("open", "escalated"),
            ("escalated", "dismissed"),
            ("dismissed", "dismissed"),
        ]
        reviewed = audit_events(database, "appropriate_use.flag_reviewed")
        assert [(e.detail["to"], e.detail["note"]) for e in reviewed] == steps
        assert all(e.actor_role == "auditor" for e in reviewed)
        assert len(audit_events(database, "appropriate_use.flag_noted")) == 1
        assert queue(client, auditor) == []
        assert [f["id"] for f in queue(client, auditor, status="dismissed")] == [flag_id]

    def test_moves_the_workflow_does_not_allow_are_refused(
        self, client: TestClient, auditor: dict[str, str], database: Database, flag_id: str
    ) -> None:
        refused = self.review(client, auditor, flag_id, "open", "It is open already, surely.")
        assert refused.status_code == 409
        assert error_of(refused) == "flag_status"
        assert "dismissed or escalated" in refused.json()["detail"]
        assert self.review(client, auditor, flag_id, "escalated", "Refer.").status_code == 200
        assert self.review(client, auditor, flag_id, "open", "Back?").status_code == 409
        assert len(audit_events(database, "appropriate_use.flag_reviewed")) == 1

    @pytest.mark.parametrize(
        ("body", "status"),
        [
            ({"decision": "dismissed", "note": "ok"}, 422),  # a note says why
            ({"decision": "dismissed"}, 422),
            ({"decision": "closed", "note": "No further action."}, 422),
            ({"decision": "dismissed", "note": "Fine.", "extra": 1}, 422),
        ],
    )
    def test_bad_reviews_change_nothing(
        self,
        client: TestClient,
        auditor: dict[str, str],
        database: Database,
        flag_id: str,
        body: dict[str, Any],
        status: int,
    ) -> None:
        response = client.post(f"{FLAGS}/{flag_id}/review", json=body, headers=auditor)
        assert response.status_code == status
        assert queue(client, auditor)[0]["status"] == "open"
        assert audit_events(database, "appropriate_use.flag_reviewed") == []

    def test_an_unknown_flag_is_404(self, client: TestClient, auditor: dict[str, str]) -> None:
        missing = "00000000-0000-4000-8000-000000000000"
        assert client.get(f"{FLAGS}/{missing}", headers=auditor).status_code == 404
        response = self.review(client, auditor, missing, "dismissed", "No such flag.")
        assert response.status_code == 404

    def test_new_evidence_reopens_a_dismissed_flag(
        self,
        client: TestClient,
        auditor: dict[str, str],
        scene: Scene,
        token: str,
        flag_id: str,
    ) -> None:
        self.review(client, auditor, flag_id, "dismissed", "A one-off; legitimate.")
        searched(scene, token, person("Example", "Sam", "1990-02-03"))
        (flag,) = queue(client, auditor)
        assert (flag["id"], flag["evidence_count"]) == (flag_id, 2)
        notes = client.get(f"{FLAGS}/{flag_id}", headers=auditor).json()["notes"]
        assert notes[-1]["author"] == "appropriate_use"
        assert "reopened: 1 more transaction" in notes[-1]["note"]


class TestNightlyReview:
    def test_a_directory_change_reaches_transactions_already_made(
        self,
        app: FastAPI,
        client: TestClient,
        auditor: dict[str, str],
        scene: Scene,
        token: str,
    ) -> None:
        made = searched(scene, token, person("Doe", "Jo"))
        associate = {"associations": [{"surname": "Doe", "forename": "Jo"}]}
        load(client, auditor, own(scene.officer.collar_number, **associate))
        assert queue(client, auditor) == []
        context = context_of(app)
        assert review_appropriate_use(context, scene.clock()) == {
            "flags_raised": 1,
            "flags_updated": 0,
        }
        (flag,) = queue(client, auditor)
        assert flag["rule"] == "declared_association"
        evidence = client.get(f"{FLAGS}/{flag['id']}", headers=auditor).json()["evidence"]
        assert [e["detail"]["transaction_id"] for e in evidence] == [made]
        scene.clock.advance(days=1)
        again = review_appropriate_use(context, scene.clock())
        assert again == {"flags_raised": 0, "flags_updated": 0}

    def test_a_day_far_above_the_officers_own_baseline(
        self, app: FastAPI, client: TestClient, auditor: dict[str, str], scene: Scene
    ) -> None:
        policy = copy.deepcopy(WATCHFUL)
        policy["appropriate_use"]["rules"].update(
            {"volume_own_baseline_deviations": 3, "volume_min_daily": 5}
        )
        assert put_policy(client, scene.admin, policy).status_code == 201
        context = context_of(app)
        now = scene.clock()
        busy = now - timedelta(days=3)
        with context.database.unit_of_work() as session:
            for days_ago in range(1, 11):
                day = now - timedelta(days=days_ago)
                for n in range(20 if day == busy else 2):
                    record(
                        session,
                        actor=Actor.system("test"),
                        action="transaction.vehicle_search",
                        now=day + timedelta(minutes=n),
                        detail={
                            "transaction_id": f"{days_ago}-{n}",
                            "type": "vehicle_search",
                            "purpose": "ROAD_TRAFFIC",
                            "collar_number": scene.officer.collar_number,
                            "subject_keys": [],
                        },
                    )
        review_appropriate_use(context, now)
        (flag,) = queue(client, auditor, rule="volume_own_baseline")
        assert flag["evidence_count"] == 20
        assert flag["detail"]["count"] == 20 and flag["detail"]["median"] == 2
        assert queue(client, auditor, rule="outside_shift") == []  # no roster, not judged
