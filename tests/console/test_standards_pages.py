"""Professional standards' console pages: search, proofs, flags, bundles, witnesses."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient

from mdm_server.audit import bundle
from mdm_server.db import Database
from tests.conftest import FakeClock
from tests.console.conftest import Browser, checkpoint
from tests.server.test_appropriate_use import SAM, load, own, queue
from tests.server.test_audit_search import person
from tests.server.test_secure import Scene
from tests.support import audit_events


class TestAuditor:
    def test_finds_an_officers_searches_and_the_search_is_audited(
        self,
        scene: Scene,
        browser_for: Callable[..., Browser],
        database: Database,
    ) -> None:
        token = str(scene.first_entry()["session_token"])
        assert scene.transact(token, person("Example", "Sam")).status_code == 200
        browser = browser_for("auditor")
        page = browser.get(
            f"/console/audit?officer={scene.officer.collar_number}&type=person_search"
        )
        assert page.status_code == 200
        assert "surname: Example" in page.text
        (searched,) = audit_events(database, "audit.searched")
        assert searched.actor_name == browser.user.username
        assert searched.detail["filters"] == {
            "officer": scene.officer.collar_number,
            "transaction_type": "person_search",
        }
        csv = browser.get(f"/console/audit/export?officer={scene.officer.collar_number}&format=csv")
        assert csv.status_code == 200
        assert "Example" in csv.text

    def test_an_export_in_an_unknown_format_is_refused_and_not_audited(
        self, browser_for: Callable[..., Browser], database: Database
    ) -> None:
        browser = browser_for("auditor")
        response = browser.get("/console/audit/export?officer=4021&format=xml")
        assert response.status_code == 422
        assert "format" in response.text
        assert audit_events(database, "audit.search_exported") == []
        assert browser.get("/console/audit/export?officer=4021&format=json").status_code == 200
        assert len(audit_events(database, "audit.search_exported")) == 1

    def test_bad_filters_are_named_on_the_page(self, browser_for: Callable[..., Browser]) -> None:
        browser = browser_for("auditor")
        response = browser.get("/console/audit?officer=!!&date_of_birth=yesterday")
        assert response.status_code == 422
        assert "officer" in response.text
        assert "date_of_birth" in response.text
        both = browser.get("/console/audit?surname=Smith&registration=AB12CDE")
        assert both.status_code == 400
        assert "one subject at a time" in both.text

    def test_an_event_is_proven_in_the_latest_checkpoint_once_one_covers_it(
        self, app: FastAPI, browser_for: Callable[..., Browser], database: Database
    ) -> None:
        browser = browser_for("auditor")
        seq = audit_events(database, "auth.login")[-1].seq
        before = browser.get(f"/console/audit/events/{seq}")
        assert 'data-inclusion="not-proven"' in before.text
        checkpoint(app)
        after = browser.get(f"/console/audit/events/{seq}")
        assert 'data-inclusion="proven"' in after.text
        assert len(audit_events(database, "audit.event_read")) == 2

    def test_reviews_a_flag(
        self,
        scene: Scene,
        client: TestClient,
        app: FastAPI,
        browser_for: Callable[..., Browser],
        database: Database,
    ) -> None:
        from tests.factories.staff import headers_for

        api = headers_for(app, "auditor")
        token = str(scene.first_entry()["session_token"])
        load(client, api, own(scene.officer.collar_number, own=[SAM]))
        assert scene.transact(token, person("Example", "Sam")).status_code == 200
        (flag,) = queue(client, api)
        browser = browser_for("auditor")
        assert "self search" in browser.get("/console/flags").text
        page = browser.get(f"/console/flags/{flag['id']}")
        assert "surname: Example" in page.text
        short = browser.post(
            f"/console/flags/{flag['id']}/review", {"decision": "dismissed", "note": "x"}
        )
        assert short.status_code == 422
        done = browser.post(
            f"/console/flags/{flag['id']}/review",
            {"decision": "escalated", "note": "searched own record twice; refer"},
        )
        assert done.status_code == 303
        assert 'data-status="escalated"' in browser.get(f"/console/flags/{flag['id']}").text
        assert len(audit_events(database, "appropriate_use.flag_reviewed")) == 1

    def test_downloads_a_bundle_that_verifies_on_its_own(
        self,
        scene: Scene,
        app: FastAPI,
        clock: FakeClock,
        browser_for: Callable[..., Browser],
    ) -> None:
        token = str(scene.first_entry()["session_token"])
        assert scene.transact(token, person("Example", "Sam")).status_code == 200
        browser = browser_for("auditor")
        browser.get("/console/audit/bundle")
        start = (clock() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
        end = (clock() + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
        response = browser.post(
            "/console/audit/bundle",
            {"start": start, "end": end, "officer": scene.officer.collar_number},
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/zip"
        verified = bundle.verify(response.content)
        assert verified.events >= 1
        assert verified.query["officer"] == scene.officer.collar_number
        backwards = browser.post("/console/audit/bundle", {"start": end, "end": start})
        assert backwards.status_code == 400
        assert "&#39;to&#39; must be after &#39;from&#39;" in backwards.text

    def test_checks_a_witness_checkpoint_against_the_log(
        self, app: FastAPI, browser_for: Callable[..., Browser]
    ) -> None:
        browser = browser_for("auditor")
        checkpoint(app)
        held = browser.client.get("/api/v1/audit/checkpoint").text
        browser_for("officer")  # more events
        checkpoint(app)
        browser.get("/console/audit/checkpoints")
        good = browser.post("/console/audit/checkpoints/witness", {"note": held})
        assert 'data-witness="consistent"' in good.text
        proof = re.search(r"consistency proof of (\d+) (hash|hashes) verified", good.text)
        assert proof is not None and (proof.group(1) == "1") == (proof.group(2) == "hash")
        latest = browser.client.get("/api/v1/audit/checkpoint").text
        same = browser.post("/console/audit/checkpoints/witness", {"note": latest})
        assert "under the same signed root; nothing has been added since" in same.text
        assert "0 hashes" not in same.text
        forged = held.replace("\n\n", "\n\n", 1).replace(held.splitlines()[1], "999999", 1)
        bad = browser.post("/console/audit/checkpoints/witness", {"note": forged})
        assert 'data-witness="inconsistent"' in bad.text
        assert "Not a checkpoint this log signed" in bad.text
