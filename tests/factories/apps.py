"""APKs for the catalogue's tests.

Honest APKs come from `virtual_device.apk.build_apk` or from Debian's `apksigner`. The signing
blocks here are written afresh from the v2 and v3 pages (not by the code under test, nor by the
builder), so a test can make what no honest signer makes: two signers, a certificate for
another key, v2 and v3 by different keys, every algorithm Android knows. `apk` and `upload`
send honest ones to the catalogue as an IT administrator would."""

from __future__ import annotations

import functools
import hashlib
import io
import struct
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import NameOID
from fastapi.testclient import TestClient

from virtual_device.apk import build_apk, test_signer
from virtual_device.apk.axml import Node, compile_document
from virtual_device.apk.build import manifest_xml

MAGIC = b"APK Sig Block 42"
V2, V3 = 0x7109871A, 0xF05368C0
MIB = 1024 * 1024
PACKAGE = "uk.police.optik"
APK_TYPE = "application/vnd.android.package-archive"

# DSA (algorithm 0x0301) is deprecated in cryptography but still verified by Android.
PrivateKey = PrivateKeyTypes


@dataclass(frozen=True)
class Key:
    """A private key and a self-signed certificate (DER) for it."""

    private_key: PrivateKey
    certificate: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.certificate).hexdigest()

    def files(self, directory: Path) -> tuple[Path, Path]:
        """The key as PKCS #8 DER (`.pk8`) and the certificate as PEM (`.x509.pem`), the pair
        `apksigner sign --key --cert` takes."""
        pk8, pem = directory / "signer.pk8", directory / "signer.x509.pem"
        pk8.write_bytes(
            self.private_key.private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        certificate = x509.load_der_x509_certificate(self.certificate)
        pem.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        return pk8, pem


@functools.cache
def key(kind: str = "ec256", name: str = "Tabard test signer") -> Key:
    """A key of `kind` (ec256, ec384, rsa2048, rsa4096, dsa) with a certificate `CN=name`
    valid until 2049-12-31 23:59:59 UTC; the same object for the same arguments."""
    private_key: PrivateKey
    if kind.startswith("ec"):
        curve = {"ec256": ec.SECP256R1(), "ec384": ec.SECP384R1()}[kind]
        private_key = ec.generate_private_key(curve)
    elif kind.startswith("rsa"):
        private_key = rsa.generate_private_key(65537, int(kind[3:]))
    else:
        private_key = dsa.generate_private_key(2048)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Police"),
        ]
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime(2024, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(2049, 12, 31, 23, 59, 59, tzinfo=UTC))
        .sign(private_key, hashes.SHA256())
    )
    return Key(private_key, certificate.public_bytes(serialization.Encoding.DER))


def manifest(package: str = PACKAGE, **kwargs: object) -> bytes:
    """A compiled manifest, as the builder makes them (version 1, SDK 24 to 28)."""
    facts: dict[str, object] = {
        "version_code": 1,
        "version_name": "1.0",
        "min_sdk": 24,
        "target_sdk": 28,
        "admin_receivers": (),
    } | kwargs
    return manifest_xml(package, **facts)  # type: ignore[arg-type]


def compiled(
    android: tuple[tuple[str, str | int], ...],
    plain: tuple[tuple[str, str], ...] = (("package", PACKAGE),),
    children: tuple[Node, ...] = (),
) -> bytes:
    """A compiled manifest with exactly these attributes on <manifest>."""
    return compile_document(Node("manifest", android=android, plain=plain, children=children))


def zip_of(entries: Sequence[tuple[str, bytes]], *, stored: Sequence[str] = ()) -> bytes:
    """A zip of the entries in order (deflated, except those named in `stored`)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in entries:
            method = zipfile.ZIP_STORED if name in stored else zipfile.ZIP_DEFLATED
            archive.writestr(zipfile.ZipInfo(name, (1981, 1, 1, 1, 1, 2)), data, method)
    return out.getvalue()


def unsigned_apk(manifest_bytes: bytes | None = None, *, filler: int = 0) -> bytes:
    """An unsigned APK: a manifest, a classes.dex, and `filler` bytes stored as an asset."""
    entries = [
        ("AndroidManifest.xml", manifest() if manifest_bytes is None else manifest_bytes),
        ("classes.dex", b"dex\n035\0" + bytes(0x68)),
    ]
    if filler:
        entries.append(("assets/filler.bin", hashlib.shake_256(b"filler").digest(filler)))
    return zip_of(entries, stored=("assets/filler.bin",))


@dataclass(frozen=True)
class Signing:
    """One signer as a block carries it: `certificate` overrides the key's own."""

    key: Key
    algorithm: int = 0
    certificate: bytes | None = None

    @property
    def algorithm_id(self) -> int:
        if self.algorithm:
            return self.algorithm
        if isinstance(self.key.private_key, ec.EllipticCurvePrivateKey):
            return 0x0201
        return 0x0103 if isinstance(self.key.private_key, rsa.RSAPrivateKey) else 0x0301


_SHA512 = {0x0102, 0x0104, 0x0202}


def _u32(value: int) -> bytes:
    return struct.pack("<I", value)


def _prefixed(data: bytes) -> bytes:
    return _u32(len(data)) + data


def _sequence(items: Sequence[bytes]) -> bytes:
    return _prefixed(b"".join(_prefixed(item) for item in items))


def _sign(private_key: PrivateKey, algorithm: int, data: bytes) -> bytes:
    digest: hashes.HashAlgorithm = hashes.SHA512() if algorithm in _SHA512 else hashes.SHA256()
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        return private_key.sign(data, ec.ECDSA(digest))
    if not isinstance(private_key, rsa.RSAPrivateKey):
        assert isinstance(private_key, dsa.DSAPrivateKey)
        return private_key.sign(data, digest)
    if algorithm in (0x0101, 0x0102):
        salt = 32 if algorithm == 0x0101 else 64
        return private_key.sign(data, padding.PSS(padding.MGF1(digest), salt), digest)
    return private_key.sign(data, padding.PKCS1v15(), digest)


def content_digest(name: str, sections: Sequence[bytes]) -> bytes:
    """The chunked digest of the v2 page over in-memory sections."""
    chunks = [section[at : at + MIB] for section in sections for at in range(0, len(section), MIB)]
    top = hashlib.new(name, b"\x5a" + _u32(len(chunks)))
    for chunk in chunks:
        top.update(hashlib.new(name, b"\xa5" + _u32(len(chunk)) + chunk).digest())
    return top.digest()


def _signer(signing: Signing, digest: bytes, *, v3: bool, attributes: bytes) -> bytes:
    algorithm = signing.algorithm_id
    sdk = _u32(24) + _u32(0x7FFFFFFF) if v3 else b""
    signed = (
        _sequence([_u32(algorithm) + _prefixed(digest)])
        + _sequence([signing.certificate or signing.key.certificate])
        + sdk
        + attributes
    )
    signature = _sign(signing.key.private_key, algorithm, signed)
    public_key = signing.key.private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return (
        _prefixed(signed)
        + sdk
        + _sequence([_u32(algorithm) + _prefixed(signature)])
        + _prefixed(public_key)
    )


def sign(
    apk: bytes,
    *,
    v2: Sequence[Signing] = (),
    v3: Sequence[Signing] = (),
    v2_says_v3: bool = False,
) -> bytes:
    """`apk` (unsigned, no zip comment) with a signing block holding these v2 and v3
    signers; `v2_says_v3` adds v2's stripping-protection attribute naming scheme 3."""
    eocd_at = len(apk) - 22
    (cd_offset,) = struct.unpack_from("<I", apk, eocd_at + 16)
    sections = (apk[:cd_offset], apk[cd_offset:eocd_at], apk[eocd_at:])
    attributes = _sequence([_u32(0xBEEFF00D) + _u32(3)] if v2_says_v3 else [])
    blocks = []
    for block_id, signers, is_v3 in ((V2, v2, False), (V3, v3, True)):
        if not signers:
            continue
        made = [
            _signer(
                signing,
                content_digest("sha512" if signing.algorithm_id in _SHA512 else "sha256", sections),
                v3=is_v3,
                attributes=_sequence([]) if is_v3 else attributes,
            )
            for signing in signers
        ]
        blocks.append((block_id, _sequence(made)))
    pairs = b"".join(struct.pack("<QI", 4 + len(value), bid) + value for bid, value in blocks)
    size = len(pairs) + 24
    block = struct.pack("<Q", size) + pairs + struct.pack("<Q", size) + MAGIC
    eocd = bytearray(sections[2])
    struct.pack_into("<I", eocd, 16, cd_offset + len(block))
    return sections[0] + block + sections[1] + bytes(eocd)


def entry_data_offset(apk: bytes, name: str) -> int:
    """Where the (stored or compressed) data of entry `name` starts in `apk`."""
    info = zipfile.ZipFile(io.BytesIO(apk)).getinfo(name)
    header: int = info.header_offset
    name_length, extra_length = struct.unpack_from("<HH", apk, header + 26)
    return header + 30 + int(name_length) + int(extra_length)


def flipped(data: bytes, at: int) -> bytes:
    """`data` with the byte at `at` inverted."""
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]


def apk(
    package: str = PACKAGE, *, version_code: int = 1, signer: str = "force", **extra: Any
) -> bytes:
    """An APK signed by the test key `signer` (two names, two keys)."""
    return build_apk(package, version_code=version_code, signer=test_signer(signer), **extra)


def upload(client: Any, headers: dict[str, str], data: bytes, **params: str) -> Any:
    """POST the APK as the raw request body, as `tabard apps upload` does."""
    return client.post(
        "/api/v1/apps",
        content=data,
        params=params,
        headers={**headers, "Content-Type": APK_TYPE},
    )


def uploaded(client: TestClient, headers: dict[str, str], data: bytes) -> dict[str, Any]:
    """Upload an APK that must be taken in; what the server answered."""
    response = upload(client, headers, data)
    assert response.status_code in (200, 201), response.text
    body: dict[str, Any] = response.json()
    return body
