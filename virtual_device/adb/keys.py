"""ADB host keys as adbd sees them: the 524-byte Android RSA public key format, the
authorised-keys list, and signature checks exactly as adbd makes them.

Sources: AOSP libcrypto_utils/android_pubkey.c (the key layout) and adb/adb_auth_client.cpp
(android-7.1.2_r1): mincrypt's RSA_verify(key, sig, 256, token, SHA_DIGEST_SIZE) treats the
20-byte token as an already-computed SHA-1 digest."""

from __future__ import annotations

import base64
import binascii
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils

ANDROID_PUBKEY_SIZE = 524
_MODULUS_WORDS = 64  # 2048-bit keys
_LAYOUT = struct.Struct("<II256s256sI")


class KeyFormatError(ValueError):
    """Not an Android RSA public key."""


@dataclass(frozen=True)
class HostKey:
    """One host's public key: the base64 blob adb sends and stores, and its comment."""

    blob: str
    comment: str
    public_key: rsa.RSAPublicKey

    @classmethod
    def parse(cls, line: str) -> HostKey:
        """Parse `<base64> user@host` (a line of adb_keys, or an AUTH RSAPUBLICKEY payload)."""
        blob, _, comment = line.strip().strip("\0").partition(" ")
        try:
            raw = base64.b64decode(blob, validate=True)
        except (binascii.Error, ValueError):
            raise KeyFormatError("public key is not base64") from None
        return cls(blob=blob, comment=comment.strip(), public_key=decode_android_pubkey(raw))

    def line(self) -> str:
        return f"{self.blob} {self.comment}".strip()

    def verifies(self, token: bytes, signature: bytes) -> bool:
        """Whether `signature` is this key's PKCS#1 v1.5 signature of the token taken as a
        SHA-1 digest, which is what adbd checks."""
        if len(token) != 20:
            return False
        try:
            self.public_key.verify(
                # SHA-1 is what the ADB protocol prescribes for the token; not our choice.
                signature,
                token,
                padding.PKCS1v15(),
                utils.Prehashed(hashes.SHA1()),  # noqa: S303
            )
        except (InvalidSignature, ValueError):
            return False
        return True


def decode_android_pubkey(raw: bytes) -> rsa.RSAPublicKey:
    """uint32 modulus words (64), uint32 n0inv, modulus[256] LE, rr[256] LE, uint32 exponent."""
    if len(raw) != ANDROID_PUBKEY_SIZE:
        raise KeyFormatError(f"public key is {len(raw)} bytes, not {ANDROID_PUBKEY_SIZE}")
    words, _n0inv, modulus, _rr, exponent = _LAYOUT.unpack(raw)
    if words != _MODULUS_WORDS:
        raise KeyFormatError("only 2048-bit keys are supported")
    n = int.from_bytes(modulus, "little")
    try:
        return rsa.RSAPublicNumbers(exponent, n).public_key()
    except ValueError:
        raise KeyFormatError("public key numbers are invalid") from None


def encode_android_pubkey(key: rsa.RSAPublicKey) -> bytes:
    """The inverse of `decode_android_pubkey`, for tests and tools."""
    numbers = key.public_numbers()
    n = numbers.n
    n0inv = (-pow(n, -1, 1 << 32)) & 0xFFFFFFFF
    rr = pow(2, 4096, n)
    return _LAYOUT.pack(
        _MODULUS_WORDS, n0inv, n.to_bytes(256, "little"), rr.to_bytes(256, "little"), numbers.e
    )
