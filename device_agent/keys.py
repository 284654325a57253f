"""The container key on the device: opening the server's envelope (docs/device-protocol.md
§6.2), and the offline copy kept wrapped under a key derived from the officer's PIN.

The offline copy (flow 6) is scrypt (RFC 7914) over the PIN with a random salt, then
AES-256-GCM with the device id, key id and deadline as associated data, so editing the
deadline in the file makes it unreadable rather than longer-lived. scrypt's cost (N=2^15, r=8,
p=1: 32 MiB and, on a J5-class phone, a few hundred milliseconds) is what a guesser pays per
PIN; see docs/secure-side.md for what that does and does not buy."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from jwt.utils import base64url_decode, base64url_encode

from device_agent.errors import AgentError

ENVELOPE_ALG = "ECDH-ES+HKDF-SHA256+A256GCM"
SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1


def b64(data: bytes) -> str:
    return base64url_encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    return base64url_decode(text)


def open_envelope(
    envelope: dict[str, Any], *, key: ec.EllipticCurvePrivateKey, device_id: str
) -> bytes:
    """The container key the server encrypted to this device's key."""
    if envelope.get("alg") != ENVELOPE_ALG:
        raise AgentError(f"unknown container key algorithm {envelope.get('alg')!r}")
    try:
        epk = unb64(str(envelope["epk"]))
        peer = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), epk)
        binding = f"tabard container key v1|{device_id}|{envelope['key_id']}".encode("ascii")
        shared = key.exchange(ec.ECDH(), peer)
        kek = HKDF(algorithm=hashes.SHA256(), length=32, salt=epk, info=binding).derive(shared)
        secret = AESGCM(kek).decrypt(
            unb64(str(envelope["nonce"])), unb64(str(envelope["ciphertext"])), binding
        )
    except (KeyError, ValueError, InvalidTag):
        raise AgentError("the container key from the server could not be opened") from None
    if len(secret) != 32:
        raise AgentError("the container key from the server has the wrong length")
    return secret


@dataclass(frozen=True)
class OfflineKey:
    """The container key wrapped under the officer's PIN, valid until `until`."""

    device_id: str
    key_id: str
    collar_number: str
    until: str  # ISO 8601 UTC
    salt: str
    nonce: str
    ciphertext: str
    max_failures: int
    n: int = SCRYPT_N
    r: int = SCRYPT_R
    p: int = SCRYPT_P

    def binding(self) -> bytes:
        parts = (
            "tabard offline key v1",
            self.device_id,
            self.key_id,
            self.collar_number,
            self.until,
        )
        return "|".join(parts).encode("utf-8")

    def expired(self, now: datetime) -> bool:
        return now >= datetime.fromisoformat(self.until)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _derive(pin: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(pin.encode("utf-8"))


def wrap_offline(
    secret: bytes,
    *,
    pin: str,
    device_id: str,
    key_id: str,
    collar_number: str,
    until: datetime,
    max_failures: int,
    n: int = SCRYPT_N,
) -> OfflineKey:
    salt, nonce = os.urandom(16), os.urandom(12)
    draft = OfflineKey(
        device_id=device_id,
        key_id=key_id,
        collar_number=collar_number,
        until=until.isoformat(),
        salt=b64(salt),
        nonce=b64(nonce),
        ciphertext="",
        max_failures=max_failures,
        n=n,
    )
    kek = _derive(pin, salt, n, draft.r, draft.p)
    ciphertext = AESGCM(kek).encrypt(nonce, secret, draft.binding())
    return replace(draft, ciphertext=b64(ciphertext))


def unwrap_offline(offline: OfflineKey, pin: str) -> bytes | None:
    """The container key, or None if the PIN is wrong (or the file was altered)."""
    kek = _derive(pin, unb64(offline.salt), offline.n, offline.r, offline.p)
    try:
        return AESGCM(kek).decrypt(
            unb64(offline.nonce), unb64(offline.ciphertext), offline.binding()
        )
    except InvalidTag:
        return None
