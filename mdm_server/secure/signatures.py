"""The digest that binds a signed witness statement (docs/device-protocol.md §6.3): SHA-256
over the canonical JSON (docs/audit.md) of the exact statement text, the witness's names, the
time signed (to the second, UTC), the officer's collar number and the signature's strokes and
pad. Anyone holding the statement as read back can recompute it; the transaction's audit
event records it, so the audit log's proofs show when the server first held it."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from mdm_server.audit.canonical import canonical_bytes

DIGEST_VERSION = "tabard-witness-statement-v1"


def signed_time(value: datetime) -> str:
    """The time signed as the digest binds it: RFC 3339 UTC to the second."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def statement_digest(
    *,
    statement: str,
    witness_surname: str,
    witness_forename: str,
    signed_at: datetime,
    collar_number: str,
    width: int,
    height: int,
    strokes: list[list[Any]],
) -> str:
    """The statement's digest, in lowercase hex."""
    document = {
        "v": DIGEST_VERSION,
        "statement": statement,
        "witness": {"surname": witness_surname, "forename": witness_forename},
        "signed_at": signed_time(signed_at),
        "officer": collar_number,
        "signature": {
            "width": width,
            "height": height,
            "strokes": [[[int(x), int(y)] for x, y in stroke] for stroke in strokes],
        },
    }
    return hashlib.sha256(canonical_bytes(document)).hexdigest()
