"""Device-signed events (docs/device-protocol.md §7): each event of a batch is a JWS the device
signed with its certified key (ES256 only), so the audit log keeps, with every device event,
the device's own signature over it: evidence anyone holding the device's certificate can check,
without trusting the server. A batch with any event that fails is refused whole."""

from __future__ import annotations

import json
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.utils import base64url_decode
from pydantic import ValidationError

from mdm_server.devices.schemas import DeviceEventIn
from mdm_server.errors import InvalidRequestError, UnprocessableError, quoted

ALGORITHM = "ES256"
EVENT_TYPE = "tabard-device-event+jwt"


def _refuse(index: int, problem: str) -> InvalidRequestError:
    return InvalidRequestError(
        {"message": f"event {index} of the batch: {problem}", "index": index, "problem": problem},
        code="invalid_event_signature",
    )


def _header(token: str) -> dict[str, Any]:
    try:
        header = json.loads(base64url_decode(token.split(".")[0]))
    except (ValueError, TypeError, IndexError):
        return {}
    return header if isinstance(header, dict) else {}


def open_event(
    token: str, *, index: int, device_id: uuid.UUID, key: ec.EllipticCurvePublicKey
) -> DeviceEventIn:
    """The event a signed event holds, once its signature, type and issuer check out."""
    header = _header(token)
    if header.get("alg") != ALGORITHM:
        raise _refuse(index, f"must be signed with {ALGORITHM}, not {quoted(header.get('alg'))}")
    if header.get("typ") != EVENT_TYPE:
        raise _refuse(index, f"the JWS header's typ must be {quoted(EVENT_TYPE)}")
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            options={"require": ["iss"], "verify_aud": False, "verify_iat": False},
        )
    except jwt.InvalidSignatureError:
        raise _refuse(
            index, "the signature does not verify against the device certificate"
        ) from None
    except jwt.PyJWTError as exc:
        raise _refuse(index, f"not a signed event ({exc})") from None
    if claims.pop("iss") != str(device_id):
        raise _refuse(index, "`iss` must be the device id")
    claims.pop("iat", None)
    try:
        return DeviceEventIn.model_validate(claims)
    except ValidationError as exc:  # signed, but not an event: what to fix, where
        raise UnprocessableError(
            [
                {
                    "field": ".".join(["events", str(index), *map(str, error["loc"])]),
                    "problem": error["msg"],
                }
                for error in exc.errors()
            ]
        ) from None


def open_batch(
    tokens: list[str], *, device_id: uuid.UUID, key: ec.EllipticCurvePublicKey
) -> list[tuple[DeviceEventIn, str]]:
    """Every event of the batch with the JWS it came in, or a refusal naming the first bad."""
    return [
        (open_event(token, index=index, device_id=device_id, key=key), token)
        for index, token in enumerate(tokens)
    ]
