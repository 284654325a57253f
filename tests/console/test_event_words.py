"""An audit event as an auditor reads it: what was recorded labelled in words, codes in
words, and the exact values that are evidence (ids, hashes, the canonical bytes) unchanged."""

from __future__ import annotations

import html
import re
from collections.abc import Callable

from fastapi import FastAPI
from fastapi.testclient import TestClient

from mdm_server.console.labels import action_words, field_label, field_value
from mdm_server.db import Database
from tests.console.conftest import Browser
from tests.console.reading import copied
from tests.console.test_plain_words import in_words
from tests.factories.staff import headers_for
from tests.server.test_appropriate_use import SAM, load, own, queue
from tests.server.test_audit_search import person
from tests.server.test_secure import Scene
from tests.support import audit_events

SNAKE = re.compile(r"\b[a-z]+_[a-z_]+\b")


def terms(page: str, heading: str) -> list[str]:
    """The labels (`<dt>`) of the panel under `heading`, as shown."""
    section = page.split(f"<h2>{heading}</h2>", 1)[1].split("</section>", 1)[0]
    return [html.unescape(term) for term in re.findall(r"<dt>([^<]*)</dt>", section)]


class TestLabels:
    def test_keys_read_as_labels_and_abbreviations_as_people_write_them(self) -> None:
        assert field_label("collar_number") == "Collar number"
        assert field_label("source_ip") == "Source IP"
        assert field_label("device_id") == "Device id"
        assert field_label("subject_keys") == "Subject keys (hashed)"

    def test_codes_read_as_words_and_evidence_stays_exact(self) -> None:
        assert field_value("outcome", "refused:purpose_not_allowed") == (
            "refused: purpose not allowed"
        )
        assert field_value("type", "person_search") == "person search"
        assert field_value("role", "it_admin") == "IT administrator"
        assert field_value("reason", "pin_wrong") == "pin wrong"
        assert field_value("reason", "phone lost on patrol") == "phone lost on patrol"
        assert field_value("username", "pc_4021") == "pc_4021"  # a name, not a code
        assert field_value("subject_keys", "4be61d28") == "4be61d28"

    def test_actions_read_as_words(self) -> None:
        assert action_words("transaction.person_search") == "Person search"
        assert action_words("secure.session_opened") == "Entered the secure side"
        assert action_words("command.requested") == "Command: requested"


class TestTheEventPage:
    def test_a_refused_search_is_recorded_in_words_with_its_exact_values(
        self, scene: Scene, browser_for: Callable[..., Browser], database: Database
    ) -> None:
        token = str(scene.first_entry()["session_token"])
        refused = {**person("Example", "Sam"), "purpose": "ROAD_TRAFFIC"}
        assert scene.transact(token, refused).status_code == 403
        (event,) = audit_events(database, "transaction.person_search")
        page = browser_for("auditor").get(f"/console/audit/events/{event.seq}").text
        labels = terms(page, "What was recorded")
        assert {"Collar number", "Device serial", "Outcome", "Subject searched"} <= set(labels)
        assert all("_" not in label and label[:1].isupper() for label in labels), labels
        before_bytes = page.split("<pre", 1)[0]
        assert re.search(r"<code[^>]*>transaction\.(<wbr>)?person_search</code>", before_bytes)
        text = in_words(re.sub(r"<code[^>]*>.*?</code>", "", before_bytes))  # words alone
        assert "refused: purpose not allowed" in text
        assert "Person search" in text
        assert not SNAKE.search(text), SNAKE.search(text)
        for key in event.detail["subject_keys"]:
            assert key in text  # hashes are evidence: shown exactly
        assert str(event.detail["session_id"]) in text
        assert f"{scene.officer.username} (officer)" in text
        assert '"outcome":"refused:purpose_not_allowed"' in copied(page)  # exact bytes


class TestTheFlagPage:
    def test_a_flags_detail_is_labelled_in_words(
        self, scene: Scene, client: TestClient, app: FastAPI, browser_for: Callable[..., Browser]
    ) -> None:
        api = headers_for(app, "auditor")
        token = str(scene.first_entry()["session_token"])
        load(client, api, own(scene.officer.collar_number, own=[SAM]))
        assert scene.transact(token, person("Example", "Sam")).status_code == 200
        (flag,) = queue(client, api)
        page = browser_for("auditor").get(f"/console/flags/{flag['id']}").text
        facts = page.split('<dl class="facts">', 1)[1].split("</dl>", 1)[0]
        labels = re.findall(r"<dt>([^<]*)</dt>", facts)
        assert "Subject (hashed key)" in labels
        assert all(label[:1].isupper() and "_" not in label for label in labels), labels
