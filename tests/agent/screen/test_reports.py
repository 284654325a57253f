"""Reports on the screen against the agent and the server in process: a witness statement
read, signed and filed with its digest checked here; read back with its signature drawn and no
edit offered; an edit refused in words; an incident report updated with its history; a note
kept beside a statement; and a signature that is missing or broken named on the pad."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from device_agent.agent import Agent
from device_agent.screen.app import Screen
from device_agent.screen.guard import Launch
from device_agent.screen.web import create_app
from tests.agent.screen.test_pages import entered, post, text
from tests.agent.test_secure_side import Device, run
from tests.server.test_policies import apply, put_policy

EVERYTHING = ["INVESTIGATION"]
TYPES = (
    "incident_report",
    "witness_statement",
    "incident_report_update",
    "witness_statement_annotation",
    "report_lookup",
)
SIGNED = {"width": 300, "height": 150, "strokes": [[[10, 40], [12, 44], [30, 60]], [[100, 90]]]}
STATEMENT = "I saw a man climb the fence.\nHe ran towards Sample Road."


@pytest.fixture
def screen(online_only_device: Device) -> Iterator[tuple[TestClient, Launch]]:
    device = online_only_device
    reports = {
        "name": "reports",
        "appropriate_use": {
            "transaction_types": {kind: {"purposes": EVERYTHING} for kind in TYPES}
        },
    }
    assert put_policy(device.client, device.admin, reports).status_code == 201
    assert apply(device.client, device.admin, "fleet", "reports").status_code == 200
    agent: Agent = device.agent()
    run(agent.check_in())
    launch = Launch(4321)
    with TestClient(create_app(Screen(agent, launch)), base_url="http://127.0.0.1:4321") as client:
        client.get("/launch", params={"key": launch.secret})
        entered(client, launch, device)
        yield client, launch
        post(client, launch, "/leave")
    agent.close()


def statement(client: TestClient, launch: Launch, **extra: str):  # type: ignore[no-untyped-def]
    return post(
        client,
        launch,
        "/secure/witness/sign",
        purpose="INVESTIGATION",
        witness_surname="Sample",
        witness_forename="Alex",
        statement=STATEMENT.replace("\n", "\r\n"),  # as a browser sends a textarea
        **extra,
    )


class TestWitnessStatements:
    def test_read_signed_filed_and_checked_then_read_back_without_an_edit(
        self, screen: tuple[TestClient, Launch]
    ) -> None:
        client, launch = screen
        to_read = post(
            client,
            launch,
            "/secure/witness",
            purpose="INVESTIGATION",
            witness_surname="Sample",
            witness_forename="Alex",
            statement=STATEMENT,
        )
        assert to_read.status_code == 200
        assert "<p>He ran towards Sample Road.</p>" in to_read.text
        assert 'id="signature-pad"' in to_read.text
        filed = statement(client, launch, signature=json.dumps(SIGNED))
        assert filed.status_code == 200, filed.text
        assert "Checked on this device: the digest matches" in filed.text
        reference = re.search(r"Filed as (\S+)</h2>", filed.text)
        digest = re.search(r'id="digest">([0-9a-f ]+)<', filed.text)
        assert reference and digest and len(digest[1].replace(" ", "")) == 64
        back = post(
            client, launch, "/secure/lookup", purpose="INVESTIGATION", reference=reference[1]
        )
        assert back.status_code == 200, back.text
        assert '<path d="M10 40 L12 44 L30 60"' in back.text
        assert '<path d="M100 90 L100 90"' in back.text  # a dot
        assert digest[1] in back.text and "the digest matches the text" in back.text
        assert "Add an annotation" in back.text and "Update this report" not in back.text
        edit = post(
            client,
            launch,
            "/secure/update",
            purpose="INVESTIGATION",
            reference=reference[1],
            summary="Something else",
            reason="Witness changed their mind",
        )
        assert edit.status_code == 409
        assert "signed witness statement: it can never be changed" in text(edit.text)
        assert "signed_statement" not in edit.text
        note = post(
            client,
            launch,
            "/secure/annotate",
            purpose="INVESTIGATION",
            reference=reference[1],
            note="Witness called back to add the time.",
        )
        assert "The statement now has 1 note." in text(note.text)
        again = post(
            client, launch, "/secure/lookup", purpose="INVESTIGATION", reference=reference[1]
        )
        assert "Witness called back to add the time." in again.text

    @pytest.mark.parametrize(
        ("signature", "said"),
        [
            ("", "The witness has not signed yet"),
            (json.dumps({**SIGNED, "strokes": [[]]}), "The witness has not signed yet"),
            (json.dumps({**SIGNED, "strokes": [[[400, 10]]]}), "did not arrive whole"),
            ("{not json", "The witness has not signed yet"),
            (json.dumps({**SIGNED, "strokes": [[[1, 1]]] * 101}), "too long"),
        ],
    )
    def test_a_missing_or_broken_signature_is_named_on_the_pad(
        self, screen: tuple[TestClient, Launch], signature: str, said: str
    ) -> None:
        client, launch = screen
        refused = statement(client, launch, signature=signature)
        assert refused.status_code == 422
        assert said in refused.text and 'id="signature-pad"' in refused.text
        assert "He ran towards Sample Road." in refused.text  # still there to sign


class TestUpdates:
    def test_an_incident_report_updated_shows_its_new_version_and_history(
        self, screen: tuple[TestClient, Launch]
    ) -> None:
        client, launch = screen
        filed = post(
            client,
            launch,
            "/secure/report",
            purpose="INVESTIGATION",
            summary="Shed broken into",
            location="Sample Road, Testbury",
            occurred_at="2026-11-21T02:10",
            category="crime",
        )
        reference = re.search(r'Filed as <strong class="ref">(\S+)</strong>', filed.text)
        assert reference, filed.text
        assert f"/secure/update?reference={reference[1]}" in filed.text
        offered = client.get("/secure/update", params={"reference": reference[1]})
        assert f'value="{reference[1]}"' in offered.text
        nothing = post(
            client,
            launch,
            "/secure/update",
            purpose="INVESTIGATION",
            reference=reference[1],
            reason="No reason",
        )
        assert nothing.status_code == 422 and "Say what changes" in nothing.text
        updated = post(
            client,
            launch,
            "/secure/update",
            purpose="INVESTIGATION",
            reference=reference[1],
            location="12 Sample Road, Testbury",
            reason="House number found",
        )
        assert updated.status_code == 200, updated.text
        words = text(updated.text)
        assert f"{reference[1]} is now version 2" in words
        assert "Changed: location." in words
        assert "Version 1" in words and "filed" in words
        assert "changed location. Why: House number found" in words
