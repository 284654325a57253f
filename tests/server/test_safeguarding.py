"""Safeguarding referrals: raised by officers through the secure side, triaged and decided by
the MASH team through the queue, counted (never named) for supervisors; every read and change
audited and found by the auditor's search; bad input refused in words with nothing written."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mdm_server.db import Database
from mdm_server.records.safeguarding_models import SafeguardingReferral
from tests.conftest import FakeClock
from tests.factories.devices import SimulatedDevice
from tests.factories.reports import REPORTS_POLICY, Desk, lookup
from tests.factories.safeguarding import COUNTS, QUEUE, decision, rating, referral
from tests.factories.secure import NEW_PIN, assign, enter, officer_with_pin
from tests.factories.staff import headers_for
from tests.server.test_secure import make_scene
from tests.support import audit_events, error_of, row_counts


@pytest.fixture
def desk(
    app: FastAPI,
    client: TestClient,
    admin_headers: dict[str, str],
    enrolled: SimulatedDevice,
    clock: FakeClock,
) -> Desk:
    return Desk(make_scene(app, client, admin_headers, enrolled, clock, REPORTS_POLICY))


@pytest.fixture
def mash(app: FastAPI) -> dict[str, str]:
    return headers_for(app, "mash")


def later(desk: Desk, **elapsed: float) -> None:
    """Let time pass, then enter the secure side again (the session ends meanwhile)."""
    scene = desk.scene
    scene.clock.advance(**elapsed)
    assert scene.device.checkin(scene.client, now=scene.clock()).status_code == 200
    opened = scene.enter(pin=NEW_PIN)
    assert opened.status_code == 201, opened.text
    desk.token = opened.json()["session_token"]


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


class TestRaisingAReferral:
    def test_an_officer_raises_one_and_reads_it_back(self, desk: Desk) -> None:
        reference = desk.file(referral())
        assert reference.startswith("SG-DEMO-")
        report = desk.read(reference)
        assert report["kind"] == "safeguarding_referral"
        assert report["fields"]["at_risk"] == "child"
        assert report["filed_by"] == desk.scene.officer.collar_number

    def test_the_audit_event_names_who_is_at_risk_never_the_concerns(
        self, desk: Desk, database: Database
    ) -> None:
        reference = desk.file(referral())
        [event] = audit_events(database, "transaction.safeguarding_referral")
        assert event.detail["subject"] == {
            "at_risk": "child",
            "surname": "Example",
            "forename": "Robin",
            "date_of_birth": "2015-03-02",
        }
        assert event.detail["reference"] == reference
        assert event.detail["purpose"] == "SAFEGUARDING"
        assert "alone at home" not in event.canonical
        assert "neighbour" not in event.canonical

    def test_a_draft_sent_twice_is_filed_once(self, desk: Desk, database: Database) -> None:
        body = {**referral(), "draft_id": "6f1c1d2e-7a55-4bb0-9f3c-0e8d1a2b3c4d"}
        first = desk.ok(body)
        again = desk.ok(body)
        assert again == {"reference": first["reference"], "already_filed": True}
        assert row_counts(database, SafeguardingReferral) == {"SafeguardingReferral": 1}

    def test_another_officer_cannot_read_it_back(self, app: FastAPI, desk: Desk) -> None:
        reference = desk.file(referral())
        scene = desk.scene
        colleague = officer_with_pin(app, scene.client, scene.admin)
        assign(scene.client, scene.admin, scene.device, colleague)
        opened = enter(
            scene.client,
            scene.device,
            colleague.collar_number,
            now=scene.clock(),
            new_pin=NEW_PIN,
            acknowledge_policy_text_version="2026.2",
        )
        desk.token = opened.json()["session_token"]
        assert desk.ok(lookup(reference)) == {"report": None, "found": False}

    @pytest.mark.parametrize(
        ("at_risk", "born", "says"),
        [
            ("child", "1990-01-01", "a child is under 18"),
            ("adult", "2015-03-02", "anyone under 18 is a child"),
            ("child", "2099-01-01", "in the future"),
        ],
    )
    def test_a_date_of_birth_that_contradicts_child_or_adult_is_refused(
        self, desk: Desk, database: Database, at_risk: str, born: str, says: str
    ) -> None:
        response = desk.send(referral(at_risk=at_risk, born=born))
        assert response.status_code == 422, response.text
        [problem] = response.json()["detail"]
        assert problem["field"] == "report.date_of_birth"
        assert says in problem["problem"]
        assert row_counts(database, SafeguardingReferral) == {"SafeguardingReferral": 0}

    def test_missing_concerns_and_an_unknown_kind_of_person_are_refused(self, desk: Desk) -> None:
        body = referral(at_risk="pet")
        del body["report"]["concerns"]
        response = desk.send(body)
        assert response.status_code == 422
        fields = {problem["field"].split(".", 1)[1] for problem in response.json()["detail"]}
        assert {"report.at_risk", "report.concerns"} <= fields


@pytest.fixture
def raised(desk: Desk) -> str:
    return desk.file(referral())


class TestTheQueue:
    def test_new_referrals_show_their_age_against_the_deadline(
        self, app: FastAPI, client: TestClient, desk: Desk, raised: str
    ) -> None:
        desk.scene.clock.advance(hours=3)
        mash = headers_for(app, "mash")
        page = ok(client.get(QUEUE, headers=mash))
        assert (page["showing"], page["triage_hours"], page["total"]) == ("waiting", 24, 1)
        [item] = page["items"]
        assert item["reference"] == raised
        assert (item["surname"], item["forename"], item["at_risk"]) == ("Example", "Robin", "child")
        assert item["age_s"] == 3 * 3600
        assert item["overdue"] is False
        assert item["division"] == desk.scene.officer.division

    def test_past_the_deadline_it_is_overdue_and_filters_find_it(
        self, app: FastAPI, client: TestClient, desk: Desk, raised: str
    ) -> None:
        later(desk, hours=20)
        newer = desk.file(referral(surname="Sample"))
        desk.scene.clock.advance(hours=5)
        mash = headers_for(app, "mash")
        overdue = ok(client.get(QUEUE, params={"showing": "overdue"}, headers=mash))
        assert [item["reference"] for item in overdue["items"]] == [raised]
        assert overdue["items"][0]["overdue"] is True
        waiting = ok(client.get(QUEUE, headers=mash))["items"]
        assert [(item["reference"], item["overdue"]) for item in waiting] == [
            (raised, True),
            (newer, False),
        ]
        assert ok(client.get(QUEUE, params={"showing": "decided"}, headers=mash))["total"] == 0

    def test_waiting_ones_come_oldest_first_then_decided_ones(
        self, client: TestClient, desk: Desk, raised: str, mash: dict[str, str]
    ) -> None:
        desk.scene.clock.advance(minutes=1)
        second = desk.file(referral(surname="Sample"))
        desk.scene.clock.advance(minutes=1)
        third = desk.file(referral(surname="Placeholder"))
        ok(client.post(f"{QUEUE}/{raised}/rating", json=rating(), headers=mash))
        ok(client.post(f"{QUEUE}/{raised}/decision", json=decision(), headers=mash))
        page = ok(client.get(QUEUE, params={"showing": "all"}, headers=mash))
        assert [item["reference"] for item in page["items"]] == [second, third, raised]
        waiting = ok(client.get(QUEUE, headers=mash))
        assert [item["reference"] for item in waiting["items"]] == [second, third]

    def test_every_read_is_audited_with_the_referrals_it_showed(
        self, client: TestClient, raised: str, mash: dict[str, str], database: Database
    ) -> None:
        ok(client.get(QUEUE, headers=mash))
        ok(client.get(f"{QUEUE}/{raised.lower()}", headers=mash))
        [listed] = audit_events(database, "safeguarding.queue_read")
        assert listed.detail["references"] == [raised]
        [read] = audit_events(database, "safeguarding.referral_read")
        assert read.detail["reference"] == raised
        assert read.actor_role == "mash"
        assert set(read.detail["subject_keys"]) <= set(listed.detail["subject_keys"])


class TestRatingAndDeciding:
    def test_mash_rates_it_red_and_records_a_decision(
        self, client: TestClient, raised: str, mash: dict[str, str], database: Database
    ) -> None:
        rated = ok(client.post(f"{QUEUE}/{raised}/rating", json=rating(), headers=mash))
        assert (rated["rating"], rated["rating_reason"]) == ("red", "Young child alone overnight")
        decided = ok(client.post(f"{QUEUE}/{raised}/decision", json=decision(), headers=mash))
        assert decided["decision"] == "childrens_social_care"
        assert decided["decision_reason"] == "Neglect concerns; strategy discussion"
        assert decided["overdue"] is False and decided["decided_at"] is not None
        [event] = audit_events(database, "safeguarding.referral_decided")
        assert (event.detail["decision"], event.detail["rating"]) == (
            "childrens_social_care",
            "red",
        )
        assert "strategy discussion" not in event.canonical

    def test_an_unknown_referral_is_not_found_in_words(
        self, client: TestClient, mash: dict[str, str]
    ) -> None:
        response = client.post(f"{QUEUE}/SG-DEMO-00000000/rating", json=rating(), headers=mash)
        assert (response.status_code, error_of(response)) == (404, "referral_not_found")
        assert "SG-DEMO-00000000" in response.json()["detail"]

    def test_deciding_twice_is_refused_and_the_first_decision_stands(
        self, client: TestClient, raised: str, mash: dict[str, str], database: Database
    ) -> None:
        ok(client.post(f"{QUEUE}/{raised}/rating", json=rating(), headers=mash))
        ok(client.post(f"{QUEUE}/{raised}/decision", json=decision(), headers=mash))
        again = client.post(
            f"{QUEUE}/{raised}/decision", json=decision("no_further_action"), headers=mash
        )
        assert (again.status_code, error_of(again)) == (409, "referral_decided")
        assert "referred to children's social care" in again.json()["detail"]
        rerate = client.post(f"{QUEUE}/{raised}/rating", json=rating("green"), headers=mash)
        assert (rerate.status_code, error_of(rerate)) == (409, "referral_decided")
        shown = ok(client.get(f"{QUEUE}/{raised}", headers=mash))
        assert (shown["decision"], shown["rating"]) == ("childrens_social_care", "red")
        assert len(audit_events(database, "safeguarding.referral_decided")) == 1

    def test_a_decision_needs_a_rating_first(
        self, client: TestClient, raised: str, mash: dict[str, str], database: Database
    ) -> None:
        response = client.post(f"{QUEUE}/{raised}/decision", json=decision(), headers=mash)
        assert (response.status_code, error_of(response)) == (409, "referral_not_rated")
        assert audit_events(database, "safeguarding.referral_decided") == []

    def test_a_decision_that_does_not_fit_the_person_is_refused(
        self, client: TestClient, desk: Desk, mash: dict[str, str]
    ) -> None:
        adult = desk.file(referral(at_risk="adult", born="1950-06-01"))
        ok(client.post(f"{QUEUE}/{adult}/rating", json=rating("amber"), headers=mash))
        response = client.post(f"{QUEUE}/{adult}/decision", json=decision(), headers=mash)
        assert response.status_code == 422
        [problem] = response.json()["detail"]
        assert problem["field"] == "decision"
        assert "the person at risk is an adult" in problem["problem"]
        assert ok(client.get(f"{QUEUE}/{adult}", headers=mash))["decision"] is None

    @pytest.mark.parametrize(
        "body",
        [
            {"rating": "red", "reason": "   "},
            {"rating": "purple", "reason": "A reason"},
            {"rating": "red"},
        ],
    )
    def test_a_blank_reason_or_an_unknown_rating_is_refused(
        self, client: TestClient, raised: str, mash: dict[str, str], body: dict[str, str]
    ) -> None:
        response = client.post(f"{QUEUE}/{raised}/rating", json=body, headers=mash)
        assert response.status_code == 422, response.text
        assert ok(client.get(f"{QUEUE}/{raised}", headers=mash))["rating"] is None

    def test_an_empty_decision_reason_is_refused(
        self, client: TestClient, raised: str, mash: dict[str, str]
    ) -> None:
        ok(client.post(f"{QUEUE}/{raised}/rating", json=rating(), headers=mash))
        response = client.post(f"{QUEUE}/{raised}/decision", json=decision(reason=""), headers=mash)
        assert response.status_code == 422
        assert ok(client.get(f"{QUEUE}/{raised}", headers=mash))["decision"] is None


class TestWhoSeesWhat:
    @pytest.mark.parametrize("role", ["it_admin", "auditor", "supervisor", "officer"])
    def test_no_one_but_mash_reads_the_queue_or_a_referral(
        self, app: FastAPI, client: TestClient, raised: str, role: str
    ) -> None:
        headers = headers_for(app, role)
        for response in (
            client.get(QUEUE, headers=headers),
            client.get(f"{QUEUE}/{raised}", headers=headers),
            client.post(f"{QUEUE}/{raised}/rating", json=rating(), headers=headers),
            client.post(f"{QUEUE}/{raised}/decision", json=decision(), headers=headers),
        ):
            assert response.status_code == 403, (role, response.text)
            assert "Example" not in response.text and raised not in response.text

    def test_a_supervisor_sees_counts_for_their_own_division_and_no_names(
        self, app: FastAPI, client: TestClient, desk: Desk, raised: str
    ) -> None:
        division = desk.scene.officer.division
        later(desk, hours=30)
        desk.file(referral(surname="Sample"))
        own = ok(client.get(COUNTS, headers=headers_for(app, "supervisor", division=division)))
        assert (own["division"], own["waiting"], own["overdue"]) == (division, 2, 1)
        assert "Example" not in str(own) and raised not in str(own)
        other = ok(client.get(COUNTS, headers=headers_for(app, "supervisor", division="south")))
        assert (other["waiting"], other["overdue"]) == (0, 0)

    @pytest.mark.parametrize("role", ["it_admin", "auditor", "officer", "mash"])
    def test_only_supervisors_get_the_counts(
        self, app: FastAPI, client: TestClient, role: str
    ) -> None:
        assert client.get(COUNTS, headers=headers_for(app, role)).status_code == 403


class TestProfessionalStandardsFindIt:
    def test_the_auditor_finds_the_filing_the_reads_the_rating_and_the_decision(
        self, app: FastAPI, client: TestClient, raised: str, mash: dict[str, str]
    ) -> None:
        ok(client.get(QUEUE, headers=mash))
        ok(client.post(f"{QUEUE}/{raised}/rating", json=rating(), headers=mash))
        ok(client.post(f"{QUEUE}/{raised}/decision", json=decision(), headers=mash))
        auditor = headers_for(app, "auditor")
        for params in (
            {"surname": "Example", "forename": "Robin"},
            {"incident": raised},
        ):
            page = ok(client.get("/api/v1/audit/search", params=params, headers=auditor))
            actions = {event["action"] for event in page["events"]}
            assert {
                "transaction.safeguarding_referral",
                "safeguarding.queue_read",
                "safeguarding.referral_rated",
                "safeguarding.referral_decided",
            } <= actions, (params, actions)
        by_action = ok(
            client.get("/api/v1/audit/search", params={"action": "safeguarding.*"}, headers=auditor)
        )
        assert len(by_action["events"]) == 3
