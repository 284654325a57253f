"""Receipts: what a device says it did with a command, signed with its own key.

A receipt is a JWS compact serialisation signed ES256 by the device key (the one its
certificate certifies). Header: `alg` `ES256`, `typ` `tabard-receipt+jwt`. Claims: `iss` the
device id; `command_id`; `envelope_sha256`, the SHA-256 (hex) of the exact envelope text the
device ran; `result`, `succeeded` or `failed`; `executed_at`, seconds since the epoch;
`evidence`, an object; `error`, a string or null; `iat`. The algorithm is pinned (RFC 8725
§3.1): nothing but ES256 is looked at."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from mdm_server.errors import InvalidRequestError, quoted

RECEIPT_TYPE = "tabard-receipt+jwt"
RESULTS = ("succeeded", "failed")
REQUIRED = ("iss", "command_id", "envelope_sha256", "result", "executed_at", "evidence", "iat")


class InvalidReceiptError(InvalidRequestError):
    code = "invalid_receipt"


@dataclass(frozen=True)
class Receipt:
    command_id: uuid.UUID
    envelope_sha256: str
    result: str
    executed_at: datetime
    evidence: dict[str, Any]
    error: str | None


def _header(token: str) -> dict[str, Any]:
    try:
        return jwt.get_unverified_header(token)
    except jwt.DecodeError:
        raise InvalidReceiptError("receipt is not a JWS compact serialisation") from None


def verify_receipt(
    token: str, *, key: ec.EllipticCurvePublicKey, device_id: uuid.UUID, command_id: uuid.UUID
) -> Receipt:
    """The receipt's claims, once its signature verifies against the device's key and it
    names this device and command; else a 400 saying what is wrong."""
    header = _header(token)
    if header.get("alg") != "ES256":
        raise InvalidReceiptError(f"receipt must be signed ES256, not {quoted(header.get('alg'))}")
    if header.get("typ") != RECEIPT_TYPE:
        raise InvalidReceiptError(f"receipt header `typ` must be {quoted(RECEIPT_TYPE)}")
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=["ES256"],
            options={"require": list(REQUIRED), "verify_aud": False, "verify_iat": False},
        )
    except jwt.InvalidSignatureError:
        raise InvalidReceiptError(
            "receipt signature does not verify against the device certificate"
        ) from None
    except jwt.MissingRequiredClaimError as exc:
        raise InvalidReceiptError(f"receipt lacks the `{exc.claim}` claim") from None
    except jwt.PyJWTError as exc:
        raise InvalidReceiptError(f"receipt rejected: {exc}") from None
    return _checked(claims, device_id=device_id, command_id=command_id)


def _checked(claims: dict[str, Any], *, device_id: uuid.UUID, command_id: uuid.UUID) -> Receipt:
    if claims["iss"] != str(device_id):
        raise InvalidReceiptError("receipt `iss` must be this device's id")
    if claims["command_id"] != str(command_id):
        raise InvalidReceiptError("receipt `command_id` does not name this command")
    if claims["result"] not in RESULTS:
        raise InvalidReceiptError("receipt `result` must be succeeded or failed")
    executed = claims["executed_at"]
    if not isinstance(executed, int) or isinstance(executed, bool) or executed <= 0:
        raise InvalidReceiptError("receipt `executed_at` must be seconds since the epoch")
    evidence, error = claims["evidence"], claims.get("error")
    if not isinstance(evidence, dict):
        raise InvalidReceiptError("receipt `evidence` must be an object")
    if error is not None and not isinstance(error, str):
        raise InvalidReceiptError("receipt `error` must be a string or null")
    digest = claims["envelope_sha256"]
    if not isinstance(digest, str) or len(digest) != 64:
        raise InvalidReceiptError("receipt `envelope_sha256` must be 64 hex digits")
    return Receipt(
        command_id=command_id,
        envelope_sha256=digest,
        result=str(claims["result"]),
        executed_at=datetime.fromtimestamp(executed, UTC),
        evidence=evidence,
        error=error[:500] if error else None,
    )
