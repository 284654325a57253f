"""A signed witness statement's digest, computed on the device from the statement as read back,
to check the one the server returned (docs/device-protocol.md §6.3). Written from the protocol,
not shared with the server: the agent never imports it."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

DIGEST_VERSION = "tabard-witness-statement-v1"


def statement_digest(
    *,
    statement: str,
    witness_surname: str,
    witness_forename: str,
    signed_at: str,
    collar_number: str,
    signature: dict[str, Any],
) -> str:
    """SHA-256 (hex) of the canonical JSON that binds the statement to its signature."""
    moment = datetime.fromisoformat(signed_at).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    document = {
        "v": DIGEST_VERSION,
        "statement": statement,
        "witness": {"surname": witness_surname, "forename": witness_forename},
        "signed_at": moment,
        "officer": collar_number,
        "signature": {
            "width": signature["width"],
            "height": signature["height"],
            "strokes": signature["strokes"],
        },
    }
    encoded = json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def grouped(digest: str) -> str:
    """A digest in groups of eight, as people read one out and compare it."""
    return " ".join(digest[i : i + 8] for i in range(0, len(digest), 8))


def digest_checks(report: dict[str, Any]) -> bool | None:
    """Whether a read-back witness statement's digest matches its text, names, time signed,
    officer and signature; None for a report that carries no signature."""
    signature = report.get("signature")
    if not signature or not report.get("signature_digest") or not report.get("signed_at"):
        return None
    fields = report.get("fields") or {}
    try:
        computed = statement_digest(
            statement=fields["statement"],
            witness_surname=fields["witness_surname"],
            witness_forename=fields["witness_forename"],
            signed_at=report["signed_at"],
            collar_number=report["filed_by"],
            signature=signature,
        )
    except (KeyError, TypeError, ValueError):
        return False
    return bool(computed == report["signature_digest"])


def read_signature(text: str) -> dict[str, Any]:
    """A signature file's JSON (`{"width", "height", "strokes": [[[x, y], ...], ...]}`, and
    optionally `signed_at`); ValueError says what is wrong with it."""
    try:
        drawn = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"it is not JSON (line {exc.lineno}, column {exc.colno})") from None
    if not isinstance(drawn, dict):
        raise ValueError('it must be an object: {"width", "height", "strokes"}')
    missing = [key for key in ("width", "height", "strokes") if key not in drawn]
    if missing:
        raise ValueError(f"it has no {' or '.join(missing)}")
    if not isinstance(drawn["strokes"], list) or not all(
        isinstance(stroke, list) for stroke in drawn["strokes"]
    ):
        raise ValueError("strokes must be a list of strokes, each a list of [x, y] points")
    return drawn
