"""Encrypting a container key to a device's public key (docs/device-protocol.md §6.2).

ECIES over P-256: a fresh ephemeral key pair per wrap; ECDH with the device's certified key
(SEC 1 §3.3.1); HKDF-SHA256 (RFC 5869) with the ephemeral public point as salt and the device
and key ids in `info`; AES-256-GCM with the same ids as associated data. Only the holder of
the device's private key can open it, and a wrap made for one device or key id does not open
as another."""

from __future__ import annotations

import os
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from jwt.utils import base64url_encode

ALGORITHM = "ECDH-ES+HKDF-SHA256+A256GCM"
INFO_PREFIX = b"tabard container key v1"


def binding(device_id: str, key_id: str) -> bytes:
    """The bytes a wrap is bound to: `tabard container key v1|DEVICE_ID|KEY_ID`."""
    return b"|".join((INFO_PREFIX, device_id.encode("ascii"), key_id.encode("ascii")))


def wrap_for_device(
    secret: bytes, *, device_key: ec.EllipticCurvePublicKey, device_id: str, key_id: str
) -> dict[str, Any]:
    """The JSON envelope carrying `secret` to the device."""
    ephemeral = ec.generate_private_key(ec.SECP256R1())
    epk = ephemeral.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    shared = ephemeral.exchange(ec.ECDH(), device_key)
    bound = binding(device_id, key_id)
    kek = HKDF(algorithm=hashes.SHA256(), length=32, salt=epk, info=bound).derive(shared)
    nonce = os.urandom(12)
    return {
        "alg": ALGORITHM,
        "key_id": key_id,
        "epk": base64url_encode(epk).decode("ascii"),
        "nonce": base64url_encode(nonce).decode("ascii"),
        "ciphertext": base64url_encode(AESGCM(kek).encrypt(nonce, secret, bound)).decode("ascii"),
    }
