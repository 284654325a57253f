"""Two copies of one agent's state directory (a cloned or restored phone) against a real
`tabard serve`, each a real `tabard agent run` over real sockets. The copy goes online first
and uploads; the real device's events then meet numbers the copy already used. Nothing stalls:
every event of both copies reaches the audit log exactly once, in an unbroken sequence, each
with the device's signature over the number it is kept under; the device is flagged as cloned,
and IT sees it in the audit log and in `tabard devices show`."""

from __future__ import annotations

import json
import random
import shutil
import uuid
from pathlib import Path

import jwt
import pytest
from cryptography import x509

from mdm_server.audit.models import AuditEvent
from tests.e2e.agents import agent_running, audit_trail, read_database
from tests.e2e.harness import Tabard
from tests.e2e.test_outbox_crash import PASSWORD, enrol, on_server, pending, record_events
from tests.support import wait_for

pytestmark = pytest.mark.e2e
SHARED, ON_COPY, ON_REAL, LATER = 7, 40, 55, 25
DRAIN_S = 90  # far beyond a minute of backoff: an outbox that stalls for good never drains


def status(tabard: Tabard, state: Path) -> dict[str, object]:
    answer = tabard.run("agent", "--state", str(state), "status", "--json")
    return dict(json.loads(answer.stdout))


def drained(state: Path, about: str) -> None:
    wait_for(lambda: pending(state) == 0, f"{about}'s outbox to drain", timeout=DRAIN_S)


class TestTwoCopiesOfOneDevice:
    @pytest.mark.timeout(400)
    def test_every_event_of_both_copies_reaches_the_audit_log_once_and_it_sees_the_clone(
        self, tabard: Tabard
    ) -> None:
        rng = random.Random(20)
        tabard.bootstrap("admin", PASSWORD)
        with tabard.serving():
            tabard.login("admin", PASSWORD)
            real = enrol(tabard)
            device_id = uuid.UUID(json.loads((real / "enrolment.json").read_text())["device_id"])
            recorded = record_events(real, SHARED, rng)  # pending when the copy is taken
            copy = tabard.root / "copy"
            shutil.copytree(real, copy)
            recorded += record_events(copy, ON_COPY, rng)
            recorded += record_events(real, ON_REAL, rng)

            with agent_running(tabard, copy):  # the copy goes online first
                drained(copy, "the copy")
            with agent_running(tabard, real):
                drained(real, "the real device")
                shown = status(tabard, real)
            assert shown["outbox_stalled"] is None
            assert shown["outbox_renumbered"] >= ON_COPY  # the numbers the copy took first

            # Both online at once, each with a shift's usage to send: they meet again.
            recorded += record_events(copy, LATER, rng) + record_events(real, LATER, rng)
            with agent_running(tabard, copy), agent_running(tabard, real):
                drained(copy, "the copy")
                drained(real, "the real device")

            events, head, audited = read_database(
                tabard, lambda session: on_server(session, device_id)
            )
            trail = audit_trail(tabard)
            shown_json = json.loads(tabard.run("devices", "show", str(device_id), "--json").stdout)
            shown_text = tabard.run("devices", "show", str(device_id)).stdout

        stored = [str(event.event_id) for event in events]
        assert len(stored) == len(set(stored))  # nothing twice
        assert set(recorded) <= set(stored)  # nothing lost
        own = {event.type for event in events if str(event.event_id) not in set(recorded)}
        assert own <= {"policy.applied"}
        assert [event.seq for event in events] == list(range(1, len(events) + 1))
        assert head is not None and head.contiguous_seq == head.highest_seq == len(events)
        assert sorted(audited) == sorted(stored)  # each in the audit log, once

        certificate = x509.load_pem_x509_certificate((real / "device.pem").read_bytes())
        kept = {e.detail["event_id"]: e for e in trail if e.action.startswith("device_event.")}
        for event in events:  # signed by the device under the number it is kept under
            claims = jwt.decode(
                kept[str(event.event_id)].detail["signed"],
                certificate.public_key(),  # type: ignore[arg-type]
                algorithms=["ES256"],
            )
            assert (claims["event_id"], claims["seq"]) == (str(event.event_id), event.seq)

        detections = [e for e in trail if e.action == "device.clone_detected"]
        assert detections and detections[0].detail["first_detection"] is True
        assert all(e.target_id == str(device_id) for e in detections)
        _held_and_conflicting_both_signed(detections[0], kept, certificate)
        assert shown_json["cloned_at"] is not None
        assert "a copy was found in use" in shown_text


def _held_and_conflicting_both_signed(
    detection: AuditEvent, kept: dict[str, AuditEvent], certificate: x509.Certificate
) -> None:
    """The evidence: two different events the device key signed under one number."""
    key = certificate.public_key()
    conflicting = jwt.decode(detection.detail["signed"], key, algorithms=["ES256"])  # type: ignore[arg-type]
    first = detection.detail["conflicts"][0]
    held = jwt.decode(kept[first["held_by_event_id"]].detail["signed"], key, algorithms=["ES256"])  # type: ignore[arg-type]
    assert conflicting["seq"] == held["seq"] == first["seq"]
    assert conflicting["event_id"] != held["event_id"]
