"""Keys that sign APKs, and the deterministic test keys the virtual fleet's APKs carry."""

from __future__ import annotations

import datetime
import functools
import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

# APK Signature Scheme v2/v3 algorithm ids (source.android.com, "APK Signature Scheme v2").
RSA_PKCS1_SHA256 = 0x0103
ECDSA_SHA256 = 0x0201
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551

SigningKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True)
class ApkSigner:
    """A private key and its X.509 certificate (DER), as `apksigner sign` takes them."""

    private_key: SigningKey
    certificate: bytes

    @property
    def algorithm(self) -> int:
        """The v2/v3 signature algorithm id this key signs with."""
        return (
            ECDSA_SHA256
            if isinstance(self.private_key, ec.EllipticCurvePrivateKey)
            else RSA_PKCS1_SHA256
        )

    @property
    def certificate_sha256(self) -> str:
        """The certificate's SHA-256 in hex, as `apksigner verify --print-certs` shows it."""
        return hashlib.sha256(self.certificate).hexdigest()

    def public_key_der(self) -> bytes:
        """The SubjectPublicKeyInfo the v2/v3 block carries."""
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, data: bytes) -> bytes:
        """A signature over `data` with SHA-256: DER ECDSA (deterministic, RFC 6979) or
        RSA PKCS#1 v1.5, so that building the same APK twice gives the same bytes."""
        if isinstance(self.private_key, ec.EllipticCurvePrivateKey):
            return self.private_key.sign(
                data, ec.ECDSA(hashes.SHA256(), deterministic_signing=True)
            )
        return self.private_key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def self_signed(private_key: SigningKey, name: str, *, serial: int = 1) -> ApkSigner:
    """An `ApkSigner` for `private_key` with a self-signed certificate `CN=name` valid from
    2020 to 2050 (Android ignores the dates of APK certificates)."""
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Tabard"),
        ]
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(private_key.public_key())
        .serial_number(serial)
        .not_valid_before(datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC))
        .not_valid_after(datetime.datetime(2050, 1, 1, tzinfo=datetime.UTC))
    )
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        certificate = builder.sign(private_key, hashes.SHA256(), ecdsa_deterministic=True)
    else:
        certificate = builder.sign(private_key, hashes.SHA256())
    return ApkSigner(private_key, certificate.public_bytes(serialization.Encoding.DER))


@functools.cache
def test_signer(name: str = "tabard-test") -> ApkSigner:  # noqa: PT028 - not a test
    """The same EC P-256 signer for the same name, in every process: the key is derived from
    SHA-256 of the name, and the certificate's dates, serial and signature are fixed. Not a
    secret: only for test, demo and virtual-device APKs."""
    seed = int.from_bytes(hashlib.sha256(name.encode()).digest(), "big")
    key = ec.derive_private_key(seed % (_P256_ORDER - 1) + 1, ec.SECP256R1())
    return self_signed(key, name, serial=seed >> 192 | 1)


test_signer.__test__ = False  # type: ignore[attr-defined]  # a factory, not a pytest test
