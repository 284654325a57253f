"""Canonical JSON for audit events: the exact bytes a later Merkle leaf is computed over.

The form (documented in docs/audit.md):
- UTF-8, no byte-order mark, no insignificant whitespace (separators `,` and `:`);
- object keys sorted by Unicode code point, and unique;
- strings escaped as Python's json module does with ensure_ascii=False (only `"`, `\\` and
  control characters are escaped);
- numbers are integers only: a float anywhere is refused, so no two encoders can disagree;
- timestamps are strings in RFC 3339 UTC with microseconds, e.g. `2026-11-21T09:30:00.000000Z`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any

# json.dumps with these arguments builds an encoder per call; one built once encodes the same.
_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)
# ... and JSONEncoder.encode still builds its C encoder on every call, a sixth of an audit
# event's encoding. The same C encoder, built once with _ENCODER's settings (no check for
# circular references: documents are trees of JSON values), where this Python has one.
_C_ENCODE = (
    c_make_encoder(None, _ENCODER.default, encode_basestring, None, ":", ",", True, False, False)
    if c_make_encoder is not None
    else None
)


class NotCanonicalError(ValueError):
    """A value that has no canonical form (a float, a non-string key, an unknown type)."""


def timestamp(value: datetime) -> str:
    """RFC 3339 UTC with microseconds."""
    require_aware(value)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def require_aware(value: datetime) -> None:
    """Refuse a naive time: it has no canonical form."""
    if value.tzinfo is None:
        raise NotCanonicalError("naive datetime")


def _check(value: Any, where: str) -> None:
    if value is None or isinstance(value, bool | str):
        return
    if isinstance(value, int):
        return
    if isinstance(value, float):
        raise NotCanonicalError(f"{where}: floats have no canonical form; use an integer or string")
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check(item, f"{where}[{index}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise NotCanonicalError(f"{where}: object keys must be strings")
            _check(item, f"{where}.{key}")
        return
    raise NotCanonicalError(f"{where}: {type(value).__name__} has no canonical form")


def check_canonical(document: dict[str, Any]) -> None:
    """Refuse a document with no canonical form (NotCanonicalError says where)."""
    _check(document, "$")


def encode_checked(document: dict[str, Any]) -> bytes:
    """The canonical encoding of a document already checked (or of one read back from a
    store, where anything non-canonical simply encodes differently and so shows)."""
    if _C_ENCODE is None:
        return _ENCODER.encode(document).encode("utf-8")
    return "".join(_C_ENCODE(document, 0)).encode("utf-8")


def canonical_bytes(document: dict[str, Any]) -> bytes:
    """The canonical encoding of a JSON object."""
    check_canonical(document)
    return encode_checked(document)
