"""Wording on the pages around the big ones: counts that agree with their nouns, policy
layers said in words, columns named for people rather than by the log's internals."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi.testclient import TestClient

from mdm_server.console.templating import capital, counted, sentence
from tests.conftest import FakeClock
from tests.console.conftest import Browser
from tests.console.test_plain_words import in_words
from tests.factories.devices import SimulatedDevice
from tests.server.test_audit_search import person
from tests.server.test_policies import apply, put_policy
from tests.server.test_secure import Scene


class TestWords:
    def test_a_count_agrees_with_its_noun(self) -> None:
        assert counted(1, "event") == "1 event"
        assert counted(31, "event") == "31 events"
        assert counted(1, "hash", "hashes") == "1 hash"
        assert counted(0, "hash", "hashes") == "0 hashes"
        assert counted(12_500, "event") == "12,500 events"

    def test_sentences_and_capitals_keep_what_is_written(self) -> None:
        assert sentence("no officer with collar number 9") == "No officer with collar number 9."
        assert sentence("Done (really)") == "Done (really)"
        assert capital("IT administrator") == "IT administrator"
        assert capital("entered the secure side") == "Entered the secure side"


class TestPages:
    def test_the_device_page_says_which_policies_are_in_force_and_for_whom(
        self,
        client: TestClient,
        clock: FakeClock,
        admin_headers: dict[str, str],
        browser_for: Callable[..., Browser],
        enrolled: SimulatedDevice,
    ) -> None:
        policy = {"name": "baseline", "device": {"warranty_bit_must_be_zero": True}}
        assert put_policy(client, admin_headers, policy).status_code == 201
        assert apply(client, admin_headers, "fleet", "baseline").status_code == 200
        assert enrolled.checkin(client, now=clock()).status_code == 200
        page = browser_for("it_admin").get(f"/console/devices/{enrolled.device_id}").text
        text = in_words(page)
        assert "Policies in force: baseline version 1, for the whole fleet." in text
        assert '<a href="/console/policies/baseline">baseline</a>' in page
        assert "Layers:" not in text
        version = re.search(r"<dd data-policy-version>([^<]*)</dd>", page)
        assert version is not None
        # The resolved policy's number comes from a sequence that PostgreSQL never rewinds.
        explained = client.get(
            f"/api/v1/devices/{enrolled.device_id}/policy", headers=admin_headers
        )
        resolved = explained.json()["policy_version"]
        assert isinstance(resolved, int)
        assert version.group(1) == f"{resolved}; the device has not said which it applied"

    def test_the_audit_search_and_a_flag_name_the_event_column_in_words(
        self, scene: Scene, browser_for: Callable[..., Browser]
    ) -> None:
        token = str(scene.first_entry()["session_token"])
        assert scene.transact(token, person("Example", "Sam")).status_code == 200
        found = browser_for("auditor").get(f"/console/audit?officer={scene.officer.collar_number}")
        assert '<th scope="col" class="num">Event</th>' in found.text
        assert ">Seq<" not in found.text
