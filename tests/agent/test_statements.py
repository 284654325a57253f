"""A signed witness statement's digest as the device checks it: the same as the server makes,
sensitive to every part it binds, and a signature file read with what is wrong said in words."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from device_agent.statements import digest_checks, read_signature, statement_digest
from mdm_server.secure import signatures

DRAWN = {"width": 320, "height": 160, "strokes": [[[10, 40], [12, 44]], [[100, 90]]]}
PARTS: dict[str, Any] = {
    "statement": 'He said "stop"\nthen ran.\tNo one followed.',
    "witness_surname": "Ó Briain",
    "witness_forename": "Siân",
    "signed_at": "2026-11-21T10:15:42+00:00",
    "collar_number": "4021",
    "signature": DRAWN,
}


def server_digest(parts: dict[str, Any]) -> str:
    drawn = parts["signature"]
    return signatures.statement_digest(
        statement=parts["statement"],
        witness_surname=parts["witness_surname"],
        witness_forename=parts["witness_forename"],
        signed_at=datetime.fromisoformat(parts["signed_at"]),
        collar_number=parts["collar_number"],
        width=drawn["width"],
        height=drawn["height"],
        strokes=drawn["strokes"],
    )


def test_the_device_and_the_server_make_the_same_digest() -> None:
    assert statement_digest(**PARTS) == server_digest(PARTS)


def test_the_time_is_bound_to_the_second_in_utc() -> None:
    later = {**PARTS, "signed_at": "2026-11-21T11:15:42.900+01:00"}
    assert statement_digest(**later) == statement_digest(**PARTS)
    assert signatures.signed_time(datetime(2026, 11, 21, 10, 15, 42, 900, tzinfo=UTC)) == (
        "2026-11-21T10:15:42Z"
    )


@pytest.mark.parametrize(
    "change",
    [
        {"statement": PARTS["statement"] + " "},
        {"witness_surname": "O Briain"},
        {"witness_forename": "Sian"},
        {"signed_at": "2026-11-21T10:15:43+00:00"},
        {"collar_number": "4022"},
        {"signature": {**DRAWN, "width": 321}},
        {"signature": {**DRAWN, "strokes": [[[10, 40], [12, 45]], [[100, 90]]]}},
    ],
)
def test_any_change_to_a_bound_part_changes_the_digest(change: dict[str, Any]) -> None:
    assert statement_digest(**{**PARTS, **change}) != statement_digest(**PARTS)


def test_a_read_back_statement_checks_and_a_tampered_one_does_not() -> None:
    report = {
        "kind": "witness_statement",
        "filed_by": "4021",
        "fields": {
            "statement": PARTS["statement"],
            "witness_surname": PARTS["witness_surname"],
            "witness_forename": PARTS["witness_forename"],
        },
        "signature": DRAWN,
        "signed_at": "2026-11-21T10:15:42Z",
        "signature_digest": server_digest(PARTS),
    }
    assert digest_checks(report) is True
    report["fields"] = {**report["fields"], "statement": "Something else."}
    assert digest_checks(report) is False
    assert digest_checks({"kind": "incident_report", "fields": {}, "signature": None}) is None


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("not json", "it is not JSON (line 1, column 1)"),
        ("[]", "it must be an object"),
        ('{"width": 1}', "it has no height or strokes"),
        ('{"width": 1, "height": 1, "strokes": [1]}', "strokes must be a list of strokes"),
    ],
)
def test_a_bad_signature_file_says_what_is_wrong(text: str, said: str) -> None:
    with pytest.raises(ValueError, match="^" + said.replace("(", r"\(").replace(")", r"\)")):
        read_signature(text)
