"""Transactions that file, update, annotate and read back reports, a witness's signature as a
finger draws it on a J5's screen, and an officer at a desk in the secure side working them."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from tests.server.test_secure import POLICY, Scene

INCIDENT_REPORT = {
    "type": "incident_report",
    "purpose": "INVESTIGATION",
    "report": {
        "summary": "Shed broken into overnight; bicycle taken.",
        "location": "Sample Road, Testbury",
        "occurred_at": "2026-11-20T23:30:00Z",
        "category": "crime",
    },
}
MISSING_PERSON_REPORT = {
    "type": "missing_person_report",
    "purpose": "MISSING_PERSON",
    "report": {
        "surname": "Example",
        "forename": "Robin",
        "last_seen_at": "2026-11-21T18:00:00Z",
        "last_seen_location": "Demo Way, Mockton",
        "description": "Blue coat, carrying a red rucksack.",
        "risk": "medium",
    },
}
STATEMENT = "I saw a man in a grey hoodie climb the fence at about half past eleven."


def signature(
    *, points: int = 12, signed_at: str = "2026-11-21T10:15:42Z", width: int = 320
) -> dict[str, Any]:
    """A squiggle of `points` points in two strokes on a 320 x 160 pad."""
    first = [[10 + (i * 37) % 290, 40 + i % 80] for i in range(points // 2)]
    second = [[20 + (i * 53) % 280, 90 + i % 60] for i in range(points - points // 2)]
    return {"width": width, "height": 160, "strokes": [first, second], "signed_at": signed_at}


def witness_statement(**signed: Any) -> dict[str, Any]:
    return {
        "type": "witness_statement",
        "purpose": "INVESTIGATION",
        "incident_reference": "INC-20261121-0042",
        "report": {
            "witness_surname": "Doe",
            "witness_forename": "Jo",
            "statement": STATEMENT,
            "signature": signature(**signed),
        },
    }


def update(
    reference: str, reason: str = "Owner found the bicycle's frame number", **changes: Any
) -> dict[str, Any]:
    return {
        "type": "incident_report_update",
        "purpose": "INVESTIGATION",
        "update": {"reference": reference, "changes": changes, "reason": reason},
    }


def annotation(
    reference: str, note: str = "Witness phoned: the time was nearer midnight."
) -> dict[str, Any]:
    return {
        "type": "witness_statement_annotation",
        "purpose": "INVESTIGATION",
        "incident_reference": "INC-20261121-0042",
        "annotation": {"reference": reference, "note": note},
    }


def lookup(reference: str) -> dict[str, Any]:
    return {"type": "report_lookup", "purpose": "INVESTIGATION", "query": {"reference": reference}}


def digest_from_the_docs(
    *,
    statement: str,
    surname: str,
    forename: str,
    signed_at: str,
    collar_number: str,
    signature: dict[str, Any],
) -> str:
    """docs/device-protocol.md §6.3, written out from the page rather than from the server."""
    moment = datetime.fromisoformat(signed_at).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    document = {
        "v": "tabard-witness-statement-v1",
        "statement": statement,
        "witness": {"surname": surname, "forename": forename},
        "signed_at": moment,
        "officer": collar_number,
        "signature": {
            "width": signature["width"],
            "height": signature["height"],
            "strokes": signature["strokes"],
        },
    }
    encoded = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(encoded.encode()).hexdigest()


TYPES = {
    **POLICY["appropriate_use"]["transaction_types"],  # type: ignore[index]
    "missing_person_report": {"purposes": ["MISSING_PERSON"]},
    "witness_statement": {"purposes": ["INVESTIGATION"], "incident_reference_required": True},
    "incident_report_update": {"purposes": ["INVESTIGATION"]},
    "witness_statement_annotation": {
        "purposes": ["INVESTIGATION"],
        "incident_reference_required": True,
    },
    "report_lookup": {"purposes": ["INVESTIGATION"]},
    "safeguarding_referral": {"purposes": ["SAFEGUARDING"]},
}
REPORTS_POLICY: dict[str, Any] = {
    **POLICY,
    "appropriate_use": {**POLICY["appropriate_use"], "transaction_types": TYPES},  # type: ignore[dict-item]
}


class Desk:
    """An officer in the secure side, filing and working reports."""

    def __init__(self, scene: Scene) -> None:
        self.scene = scene
        self.token = scene.first_entry()["session_token"]

    def send(self, body: dict[str, Any]) -> Any:
        return self.scene.transact(self.token, body)

    def ok(self, body: dict[str, Any]) -> dict[str, Any]:
        response = self.send(body)
        assert response.status_code == 200, response.text
        return dict(response.json()["result"])

    def file(self, body: dict[str, Any]) -> str:
        return str(self.ok(body)["reference"])

    def read(self, reference: str) -> dict[str, Any]:
        answer = self.ok(lookup(reference))
        assert answer["found"], reference
        return dict(answer["report"])
