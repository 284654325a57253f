"""Device assertions (DESIGN.md flow 2): every device request carries
`Authorization: Bearer <JWT>`, signed ES256 by the key the device CA certified.

Required claims: `iss` and `sub` the device id; `aud` the server's public URL; `iat`; `exp` at
most 60 s after `iat`; a unique `jti`; and, as in DPoP (RFC 9449 §4.2), `htm`, the HTTP method,
and `htu`, here the request path without query string. The algorithm is pinned to ES256
(RFC 8725 §3.1), so `alg: none` and HMAC-with-the-public-key forgeries are refused before any
key is touched."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import load_pem_x509_certificate
from jwt.utils import base64url_decode
from sqlmodel import Session

from mdm_server.cache import BoundedCache
from mdm_server.devices import repository
from mdm_server.devices.models import DeviceState
from mdm_server.devices.repository import DeviceRef
from mdm_server.errors import AuthenticationError, quoted

ALGORITHM = "ES256"
MAX_LIFETIME_S = 60
MAX_JTI_LENGTH = 128
REQUIRED_CLAIMS = ("iss", "sub", "aud", "iat", "exp", "jti", "htm", "htu")


class AssertionRejectedError(AuthenticationError):
    code = "invalid_device_assertion"


@dataclass(frozen=True)
class KnownCertificate:
    """The certificate a device's last accepted assertion was checked against."""

    serial_number: str
    key: ec.EllipticCurvePublicKey
    not_before: datetime
    not_after: datetime


class DevicePublicKeys:
    """Parsed device public keys by certificate serial. Certificates never change, so entries
    never go stale; the cache only spares re-parsing PEM on every request.

    It also remembers, by device, the certificate its last accepted assertion was checked
    against, for the quick check-in; that one can go stale (a renewal, a revocation), so its
    user must confirm it against the database."""

    def __init__(self, capacity: int = 20_000) -> None:
        self._keys: BoundedCache[ec.EllipticCurvePublicKey] = BoundedCache(capacity)
        self._last: BoundedCache[KnownCertificate] = BoundedCache(capacity)

    def get(self, serial_number: str, pem: str) -> ec.EllipticCurvePublicKey:
        return self._keys.get_or_compute(serial_number, lambda: _public_key(pem))

    def remember(self, device_id: uuid.UUID, certificate: KnownCertificate) -> None:
        self._last.put(device_id, certificate)

    def last_certificate(self, device_id: uuid.UUID) -> KnownCertificate | None:
        return self._last.get(device_id)


def _public_key(pem: str) -> ec.EllipticCurvePublicKey:
    parsed = load_pem_x509_certificate(pem.encode()).public_key()
    assert isinstance(parsed, ec.EllipticCurvePublicKey)
    return parsed


@dataclass(frozen=True)
class VerifiedDevice:
    device: DeviceRef
    jti: str
    expires_at: datetime


def bearer_token(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AssertionRejectedError("missing Authorization: Bearer <device assertion>")
    return token.strip()


def _unverified_device_id(token: str) -> uuid.UUID:
    """The device id the assertion claims, read without trusting it, to find the key that must
    have signed it; and a refusal of any algorithm but ES256 before that key is touched."""
    try:
        header_part, payload_part, _ = token.split(".")
        header = json.loads(base64url_decode(header_part))
        payload = json.loads(base64url_decode(payload_part))
    except (ValueError, TypeError):
        raise AssertionRejectedError("device assertion is not a JWT") from None
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise AssertionRejectedError("device assertion is not a JWT")
    if header.get("alg") != ALGORITHM:
        raise AssertionRejectedError(
            f"device assertion must be signed with {ALGORITHM}, not {quoted(header.get('alg'))}"
        )
    try:
        return uuid.UUID(str(payload["sub"]))
    except (KeyError, ValueError):
        raise AssertionRejectedError("device assertion has no valid `sub` (device id)") from None


def verified_claims(token: str, key: ec.EllipticCurvePublicKey, audience: str) -> dict[str, Any]:
    try:
        return jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=audience,
            options={
                "require": list(REQUIRED_CLAIMS),
                "verify_exp": False,  # checked below against the server's clock
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
    except jwt.InvalidAudienceError:
        raise AssertionRejectedError(f"device assertion `aud` must be {quoted(audience)}") from None
    except jwt.MissingRequiredClaimError as exc:
        raise AssertionRejectedError(f"device assertion lacks the `{exc.claim}` claim") from None
    except jwt.InvalidSignatureError:
        raise AssertionRejectedError(
            "device assertion signature does not verify against the device certificate"
        ) from None
    except jwt.PyJWTError as exc:
        raise AssertionRejectedError(f"device assertion rejected: {exc}") from None


def check_times(claims: dict[str, Any], *, now: datetime, skew: timedelta) -> datetime:
    iat, exp = claims["iat"], claims["exp"]
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (iat, exp)):
        raise AssertionRejectedError("device assertion `iat` and `exp` must be integers")
    if not 0 < exp - iat <= MAX_LIFETIME_S:
        raise AssertionRejectedError(
            f"device assertion `exp` must be after `iat` and at most {MAX_LIFETIME_S} s later"
        )
    issued, expires = datetime.fromtimestamp(iat, UTC), datetime.fromtimestamp(exp, UTC)
    if now > expires + skew:
        raise AssertionRejectedError("device assertion expired")
    if issued > now + skew:
        raise AssertionRejectedError(
            "device assertion issued in the future; check the device clock"
        )
    return expires


def check_binding(claims: dict[str, Any], *, device_id: uuid.UUID, method: str, path: str) -> str:
    if claims["iss"] != str(device_id) or claims["sub"] != str(device_id):
        raise AssertionRejectedError("device assertion `iss` and `sub` must both be the device id")
    if claims["htm"] != method:
        raise AssertionRejectedError(f"device assertion `htm` must be {quoted(method)}")
    if claims["htu"] != path:
        raise AssertionRejectedError(f"device assertion `htu` must be {quoted(path)}")
    jti = claims["jti"]
    if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI_LENGTH or not jti.isprintable():
        raise AssertionRejectedError(
            f"device assertion `jti` must be a printable string of 1 to {MAX_JTI_LENGTH} chars"
        )
    return jti


def claimed_device_id(authorization: str | None) -> uuid.UUID:
    """The device id an assertion claims, unverified."""
    return _unverified_device_id(bearer_token(authorization))


def precheck(authorization: str | None) -> None:
    """Refuse, without any I/O, credentials that cannot possibly be a device assertion."""
    _unverified_device_id(bearer_token(authorization))


@dataclass(frozen=True)
class AssertionCheck:
    """What a device's assertion is checked against: the request it came with, and the
    server's audience, time and allowed clock skew."""

    authorization: str | None
    method: str
    path: str
    audience: str
    now: datetime
    skew_s: int

    @property
    def skew(self) -> timedelta:
        return timedelta(seconds=self.skew_s)


def check_assertion(
    token: str, key: ec.EllipticCurvePublicKey, *, device_id: uuid.UUID, check: AssertionCheck
) -> tuple[str, datetime]:
    """The assertion's `jti` and expiry, once its signature, times and binding to this device
    and request all hold; else 401 saying which does not."""
    claims = verified_claims(token, key, check.audience)
    expires_at = check_times(claims, now=check.now, skew=check.skew)
    jti = check_binding(claims, device_id=device_id, method=check.method, path=check.path)
    return jti, expires_at


def authenticate(
    session: Session, check: AssertionCheck, *, keys: DevicePublicKeys
) -> VerifiedDevice:
    """The device behind a valid, fresh, unreplayed assertion, or 401 saying what is wrong.
    Records the `jti` in the caller's unit of work."""
    token = bearer_token(check.authorization)
    device_id = _unverified_device_id(token)
    device = repository.device_ref(session, device_id)
    if device is None:
        raise AssertionRejectedError("unknown device")
    if device.certificate_serial is None or device.certificate_pem is None:
        raise AssertionRejectedError("device certificate revoked", code="certificate_revoked")
    key = keys.get(device.certificate_serial, device.certificate_pem)
    jti, expires_at = check_assertion(token, key, device_id=device_id, check=check)
    if device.state != DeviceState.active:
        raise AssertionRejectedError(f"device is {device.state}", code="device_not_active")
    if device.not_before is None or device.not_after is None:
        raise AssertionRejectedError("device certificate revoked", code="certificate_revoked")
    if not device.not_before <= check.now <= device.not_after:
        raise AssertionRejectedError("device certificate expired", code="certificate_expired")
    if not repository.remember_assertion(
        session, device_id=device_id, jti=jti, expires_at=expires_at + check.skew
    ):
        raise AssertionRejectedError("device assertion replayed (its `jti` was used before)")
    keys.remember(
        device_id,
        KnownCertificate(device.certificate_serial, key, device.not_before, device.not_after),
    )
    return VerifiedDevice(device=device, jti=jti, expires_at=expires_at)
