"""Checking an APK's signatures as Android 7-9 does (AOSP `android.util.apk`:
ApkSignatureSchemeV2Verifier, ApkSignatureSchemeV3Verifier, ApkSignatureVerifier).

Android 9 (SDK 28) takes the v3 block if there is one, else v2; Android 7 and 8 know only v2.
Without either, the v1 (JAR) signature is checked; a v1 signature that says a newer scheme
signed the APK (`X-Android-APK-Signed`) while that block is missing means it was stripped."""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from virtual_device.apk import scheme

EOCD_MAGIC = b"PK\x05\x06"
MAX_SIGNERS = 10


class SignatureError(ValueError):
    """The APK's signatures are missing, malformed or do not match its contents."""


@dataclass(frozen=True)
class _Algorithm:
    chunked: Callable[[], Any]  # hashlib's constructor for the content digest
    verify: Callable[[bytes, bytes, bytes], None]  # (public key DER, signature, data)


def _verifier(
    kind: str, digest: type[hashes.HashAlgorithm]
) -> Callable[[bytes, bytes, bytes], None]:
    def verify(public_key_der: bytes, signature: bytes, data: bytes) -> None:
        key = serialization.load_der_public_key(public_key_der)
        if kind == "ec" and isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(digest()))
        elif kind == "pss" and isinstance(key, rsa.RSAPublicKey):
            salt = digest().digest_size
            key.verify(signature, data, padding.PSS(padding.MGF1(digest()), salt), digest())
        elif kind == "pkcs1" and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), digest())
        else:
            raise SignatureError("the public key is not of the signature algorithm's kind")

    return verify


# Signature algorithm ids, strongest first within each kind (source.android.com, v2 scheme).
ALGORITHMS = {
    0x0101: _Algorithm(hashlib.sha256, _verifier("pss", hashes.SHA256)),
    0x0102: _Algorithm(hashlib.sha512, _verifier("pss", hashes.SHA512)),
    0x0103: _Algorithm(hashlib.sha256, _verifier("pkcs1", hashes.SHA256)),
    0x0104: _Algorithm(hashlib.sha512, _verifier("pkcs1", hashes.SHA512)),
    0x0201: _Algorithm(hashlib.sha256, _verifier("ec", hashes.SHA256)),
    0x0202: _Algorithm(hashlib.sha512, _verifier("ec", hashes.SHA512)),
}
# Android prefers SHA-512 over SHA-256 when a signer offers both (compareSignatureAlgorithm).
_PREFERENCE = (0x0102, 0x0104, 0x0202, 0x0101, 0x0103, 0x0201)


@dataclass(frozen=True)
class ZipLayout:
    """Where the central directory and its end record lie, and the signing block if any."""

    cd_offset: int
    eocd_offset: int
    block: bytes | None  # the whole APK Signing Block
    block_offset: int


def zip_layout(data: bytes) -> ZipLayout:
    """The zip's layout, found as Android does: the EOCD within the last 64 KiB + 22 bytes."""
    search_from = max(0, len(data) - scheme.EOCD_SIZE - 0xFFFF)
    eocd = data.rfind(EOCD_MAGIC, search_from)
    if eocd < 0 or len(data) - eocd < scheme.EOCD_SIZE:
        raise SignatureError("no zip end of central directory record")
    cd_size, cd_offset = struct.unpack_from("<II", data, eocd + 12)
    if cd_offset + cd_size != eocd:
        raise SignatureError("the zip central directory is not just before its end record")
    if cd_offset < 32 or data[cd_offset - 16 : cd_offset] != scheme.BLOCK_MAGIC:
        return ZipLayout(cd_offset, eocd, None, cd_offset)
    (size,) = struct.unpack_from("<Q", data, cd_offset - 24)
    start = cd_offset - size - 8
    if size < 24 or start < 0 or struct.unpack_from("<Q", data, start)[0] != size:
        raise SignatureError("the APK Signing Block's two sizes disagree")
    return ZipLayout(cd_offset, eocd, data[start:cd_offset], start)


def signing_block_pairs(block: bytes) -> dict[int, bytes]:
    """The APK Signing Block's ID-value pairs."""
    pairs, at, end = {}, 8, len(block) - 24
    while at < end:
        if at + 12 > end:
            raise SignatureError("a truncated ID-value pair in the APK Signing Block")
        (length,) = struct.unpack_from("<Q", block, at)
        if length < 4 or at + 8 + length > end:
            raise SignatureError("an ID-value pair runs past the APK Signing Block")
        (block_id,) = struct.unpack_from("<I", block, at + 8)
        pairs[block_id] = block[at + 12 : at + 8 + length]
        at += 8 + length
    return pairs


class _Reader:
    """Length-prefixed fields, each checked against what is left."""

    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def u32(self) -> int:
        if self.at + 4 > len(self.data):
            raise SignatureError("a truncated field in the signature block")
        value = int.from_bytes(self.data[self.at : self.at + 4], "little")
        self.at += 4
        return value

    def prefixed(self) -> bytes:
        length = self.u32()
        if self.at + length > len(self.data):
            raise SignatureError("a length-prefixed field runs past its container")
        value = self.data[self.at : self.at + length]
        self.at += length
        return value

    def items(self) -> list[bytes]:
        inner, out = _Reader(self.prefixed()), []
        while inner.at < len(inner.data):
            out.append(inner.prefixed())
        return out

    @property
    def done(self) -> bool:
        return self.at >= len(self.data)


@dataclass(frozen=True)
class Signer:
    """A verified signer: its certificates (DER, the signing one first) and content digests."""

    certificates: tuple[bytes, ...]
    digests: dict[int, bytes]
    attributes: dict[int, bytes]


def _verify_signer(raw: bytes, *, v3: bool, sdk: int) -> Signer | None:
    """A signer whose signature checks out; None for a v3 signer outside the SDK range."""
    reader = _Reader(raw)
    signed_data = reader.prefixed()
    min_sdk = max_sdk = 0
    if v3:
        min_sdk, max_sdk = reader.u32(), reader.u32()
        if not min_sdk <= sdk <= max_sdk:
            return None
    signatures = [(_Reader(item).u32(), item[4:]) for item in reader.items()]
    public_key = reader.prefixed()
    supported = [(a, s) for a, s in signatures if a in ALGORITHMS]
    if not supported:
        raise SignatureError("No supported signatures found")
    algorithm, signature = min(supported, key=lambda pair: _PREFERENCE.index(pair[0]))
    try:
        ALGORITHMS[algorithm].verify(public_key, _Reader(signature).prefixed(), signed_data)
    except (InvalidSignature, UnsupportedAlgorithm, ValueError) as exc:
        raise SignatureError(f"{algorithm:#06x} signature did not verify") from exc
    data = _Reader(signed_data)
    digests = {}
    for item in data.items():
        item_reader = _Reader(item)
        algorithm_id = item_reader.u32()  # read before the digest that follows it
        digests[algorithm_id] = item_reader.prefixed()
    if sorted(digests) != sorted(a for a, _ in signatures):
        raise SignatureError(
            "Signature algorithms don't match between digests and signatures records"
        )
    certificates = tuple(data.items())
    if not certificates:
        raise SignatureError("No certificates listed")
    if v3 and (data.u32(), data.u32()) != (min_sdk, max_sdk):
        raise SignatureError("Signer's SDK version range doesn't match the signed data")
    attributes = {}
    for item in data.items():
        attribute = _Reader(item)
        attributes[attribute.u32()] = item[4:]
    _check_public_key(certificates[0], public_key)
    return Signer(certificates, {algorithm: digests[algorithm]}, attributes)


def _check_public_key(certificate: bytes, public_key: bytes) -> None:
    try:
        spki = (
            x509.load_der_x509_certificate(certificate)
            .public_key()
            .public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    except ValueError as exc:
        raise SignatureError("Failed to decode certificate") from exc
    if spki != public_key:
        raise SignatureError("Public key mismatch between certificate and signature record")


def _content_digest(data: bytes, layout: ZipLayout, algorithm: int) -> bytes:
    eocd = bytearray(data[layout.eocd_offset :])
    struct.pack_into("<I", eocd, 16, layout.block_offset)
    sections: list[bytes | memoryview] = [
        memoryview(data)[: layout.block_offset],
        memoryview(data)[layout.cd_offset : layout.eocd_offset],
        bytes(eocd),
    ]
    return scheme.content_digest(sections, ALGORITHMS[algorithm].chunked)


def verify_scheme_block(
    data: bytes, layout: ZipLayout, value: bytes, *, v3: bool, sdk: int
) -> Signer:
    """The first signer of a v2 or v3 block, after checking every signer's signature and the
    content digest; `SignatureError` if any fails."""
    outer = _Reader(value)
    raw_signers = outer.items()
    if not raw_signers or len(raw_signers) > MAX_SIGNERS:
        raise SignatureError("No signers found" if not raw_signers else "Too many signers")
    signers = [s for raw in raw_signers if (s := _verify_signer(raw, v3=v3, sdk=sdk)) is not None]
    if not signers:
        raise SignatureError(f"No signer supports SDK version {sdk}")
    for signer in signers:
        for algorithm, expected in signer.digests.items():
            if _content_digest(data, layout, algorithm) != expected:
                raise SignatureError("APK integrity check failed: content digest mismatch")
    return signers[0]
