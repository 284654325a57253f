"""Reports kept as drafts in the encrypted container while the server cannot be reached, and
sent, each once, when it can: against the server in process, over a transport that fails and
then works again, or that loses the server's answer after the server has acted on it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from device_agent.agent import Agent
from device_agent.drafts import DRAFT, REFUSED
from device_agent.errors import RefusedError
from mdm_server.db import Database
from mdm_server.records.models import FiledReport
from mdm_server.secure.models import OfficerPin
from tests.agent.signal import Signal
from tests.agent.test_secure_side import Device, policy, run
from tests.factories.reports import witness_statement
from tests.factories.secure import NEW_PIN, PIN
from tests.server.test_policies import put_policy

REPORT = {
    "type": "incident_report",
    "purpose": "INVESTIGATION",
    "report": {
        "summary": "Shed broken into overnight; bicycle taken.",
        "location": "Sample Road, Testbury",
        "occurred_at": "2026-11-20T23:30:00Z",
    },
}
SEARCH = {"type": "person_search", "purpose": "INVESTIGATION", "query": {"surname": "Example"}}


def agent_on(device: Device, signal: Signal) -> Agent:
    return Agent(device.state, transport=signal, clock=device.clock)


def filed(database: Database) -> list[FiledReport]:
    with database.unit_of_work(write=False) as session:
        return list(session.exec(select(FiledReport)).all())


def first_shift_then_offline(device: Device, signal: Signal) -> Agent:
    """Entered online once (the offline key kept), left, then entered with no signal."""
    agent = agent_on(device, signal)
    run(agent.check_in())
    run(agent.enter(collar=device.collar, pin=PIN, new_pin=NEW_PIN))
    run(agent.leave())
    signal.up = False
    device.clock.now += timedelta(hours=1)
    status = run(agent.enter(collar=device.collar, pin=NEW_PIN))
    assert status["online"] is False
    return agent


class TestOffline:
    def test_a_report_filed_offline_is_kept_and_sent_once_at_the_next_entry(
        self, reports_device: Device, signal: Signal, database: Database
    ) -> None:
        agent = first_shift_then_offline(reports_device, signal)
        kept = run(agent.transaction(REPORT))
        assert kept["message"] == "kept as a draft; it will be sent when the server is back"
        assert kept["draft"]["type"] == "incident_report"
        with pytest.raises(RefusedError, match="need the server"):
            run(agent.transaction(SEARCH))
        assert agent.status()["drafts_waiting"] == 1
        run(agent.leave())
        assert filed(database) == []
        signal.up = True
        status = run(agent.enter(collar=reports_device.collar, pin=NEW_PIN))
        [report] = filed(database)
        assert str(report.transaction_id) == kept["draft"]["id"]
        assert status["drafts_waiting"] == 0
        [sent] = status["drafts_sent"]
        assert (sent["reference"], sent["type"], sent["refused"]) == (
            report.reference,
            "incident_report",
            False,
        )
        run(agent.check_in())  # and nothing is sent again
        run(agent.leave())
        run(agent.enter(collar=reports_device.collar, pin=NEW_PIN))
        assert len(filed(database)) == 1
        assert signal.transactions == 1
        agent.close()

    def test_a_side_opened_offline_goes_online_at_the_first_check_in_and_sends_its_drafts(
        self, reports_device: Device, signal: Signal, database: Database
    ) -> None:
        agent = first_shift_then_offline(reports_device, signal)
        side = agent.secure.open
        assert side is not None
        opened_at = side.started_at
        kept = run(agent.transaction(REPORT))
        signal.up = True
        run(agent.check_in())  # the officer is still inside: no leaving, no PIN typed again
        status = agent.status()
        assert status["online"] is True
        assert agent.secure.open is not None and agent.secure.open.started_at == opened_at
        [report] = filed(database)
        assert str(report.transaction_id) == kept["draft"]["id"]
        assert status["drafts_waiting"] == 0
        assert [s["reference"] for s in status["drafts_sent"]] == [report.reference]
        run(agent.transaction(SEARCH))  # and the side now searches
        run(agent.check_in())
        assert len(filed(database)) == 1
        agent.close()

    def test_a_reconnect_the_gate_refuses_is_tried_once_and_the_side_stays_offline(
        self, reports_device: Device, signal: Signal, database: Database
    ) -> None:
        agent = first_shift_then_offline(reports_device, signal)
        run(agent.transaction(REPORT))
        signal.up = True
        reset = reports_device.client.put(  # IT set a new PIN while the officer was offline
            f"/api/v1/officers/{reports_device.collar}/pin",
            json={"pin": "739104"},
            headers=reports_device.admin,
        )
        assert reset.status_code == 200, reset.text
        run(agent.check_in())
        run(agent.check_in())
        status = agent.status()
        assert status["online"] is False
        assert status["drafts_waiting"] == 1
        assert filed(database) == []
        with database.unit_of_work(write=False) as session:
            [pin] = session.exec(select(OfficerPin)).all()
        assert pin.failed_attempts == 1  # the PIN that opened it offline was tried once only
        agent.close()

    def test_an_answer_lost_after_filing_sends_again_and_files_once(
        self, reports_device: Device, signal: Signal, database: Database
    ) -> None:
        agent = first_shift_then_offline(reports_device, signal)
        kept = run(agent.transaction(REPORT))
        run(agent.leave())
        signal.up = True
        signal.lose_answers = 1  # filed by the server, never heard by the device
        status = run(agent.enter(collar=reports_device.collar, pin=NEW_PIN))
        assert status["drafts_waiting"] == 1
        assert len(filed(database)) == 1
        run(agent.check_in())  # the side is open online: the next check-in sends it again
        status = agent.status()
        assert status["drafts_waiting"] == 0
        [report] = filed(database)
        [sent] = status["drafts_sent"]
        assert sent["reference"] == report.reference
        assert sent["transaction_id"] == kept["draft"]["id"]
        assert signal.transactions == 2
        agent.close()

    def test_signal_lost_during_an_online_shift_keeps_the_report_until_a_check_in(
        self, reports_device: Device, signal: Signal, database: Database
    ) -> None:
        agent = agent_on(reports_device, signal)
        run(agent.check_in())
        run(agent.enter(collar=reports_device.collar, pin=PIN, new_pin=NEW_PIN))
        signal.up = False
        kept = run(agent.transaction(REPORT))
        assert "draft" in kept
        signal.up = True
        run(agent.check_in())
        [report] = filed(database)
        assert str(report.transaction_id) == kept["draft"]["id"]
        assert [s["reference"] for s in agent.status()["drafts_sent"]] == [report.reference]
        agent.close()

    def test_a_report_the_server_refuses_is_kept_aside_and_never_sent_again(
        self, reports_device: Device, signal: Signal, database: Database
    ) -> None:
        agent = first_shift_then_offline(reports_device, signal)
        run(agent.transaction({**REPORT, "purpose": "INTELLIGENCE"}))
        run(agent.leave())
        signal.up = True
        status = run(agent.enter(collar=reports_device.collar, pin=NEW_PIN))
        [refused] = status["drafts_sent"]
        assert (refused["refused"], refused["why"]) == (True, "purpose_not_allowed")
        assert "Shed broken into" not in json.dumps(status)  # the report stays inside
        run(agent.check_in())
        assert signal.transactions == 1
        assert filed(database) == []
        side = agent.secure.require_open()
        assert [kind for _, kind, _ in side.container.records() if kind in (DRAFT, REFUSED)] == [
            REFUSED
        ]
        agent.close()

    def test_a_report_sent_online_is_filed_at_once_and_listed_nowhere(
        self, reports_device: Device, signal: Signal, database: Database
    ) -> None:
        agent = agent_on(reports_device, signal)
        run(agent.check_in())
        run(agent.enter(collar=reports_device.collar, pin=PIN, new_pin=NEW_PIN))
        answer = run(agent.transaction(REPORT))
        [report] = filed(database)
        assert answer["result"]["reference"] == report.reference
        assert agent.status()["drafts_sent"] == []
        assert agent.status()["drafts_waiting"] == 0
        agent.close()

    def test_a_statement_signed_offline_keeps_the_time_it_was_signed(
        self, reports_device: Device, signal: Signal, database: Database
    ) -> None:
        agent = first_shift_then_offline(reports_device, signal)
        signed_at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
        run(agent.transaction(witness_statement(signed_at=signed_at.isoformat())))
        run(agent.leave())
        signal.up = True
        status = run(agent.enter(collar=reports_device.collar, pin=NEW_PIN))
        [report] = filed(database)
        assert report.kind == "witness_statement"
        assert report.signed_at is not None and report.signed_at == signed_at
        assert [s["reference"] for s in status["drafts_sent"]] == [report.reference]
        agent.close()

    def test_a_draft_sampled_for_justification_asks_until_answered(
        self,
        reports_device: Device,
        signal: Signal,
        client: TestClient,
        admin_headers: dict[str, str],
    ) -> None:
        sampled = policy(8)
        sampled["appropriate_use"]["justification_sample_rate"] = 1
        sampled["appropriate_use"]["transaction_types"]["incident_report"] = {
            "purposes": ["INVESTIGATION"]
        }
        assert put_policy(client, admin_headers, sampled).status_code < 300
        agent = first_shift_then_offline(reports_device, signal)
        run(agent.transaction(REPORT))
        run(agent.leave())
        signal.up = True
        status = run(agent.enter(collar=reports_device.collar, pin=NEW_PIN))
        [sent] = status["drafts_sent"]
        asked = sent["justification"]
        assert asked["question"]
        run(agent.justify(str(asked["id"]), "Burglary reported by the owner at the scene"))
        [sent] = agent.status()["drafts_sent"]
        assert sent["justification"] is None
        assert sent["reference"]
        agent.close()
