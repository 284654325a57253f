"""The Tabard device CA: issues each enrolled device an X.509 client certificate for the EC
P-256 key it generated, from a PKCS#10 certificate signing request (RFC 2986)."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mdm_server.crypto.keystore import KeyStore, KeyStoreError, write_private_file
from mdm_server.errors import InvalidRequestError

CA_KEY_FILE = "device-ca.key"
CA_CERT_FILE = "device-ca.pem"
CA_VALIDITY = timedelta(days=20 * 365)
BACKDATE = timedelta(minutes=5)  # tolerate devices whose clocks run a little slow


class CertificateRequestError(InvalidRequestError):
    code = "invalid_csr"


@dataclass(frozen=True)
class IssuedCertificate:
    serial_number: str
    pem: str
    not_before: datetime
    not_after: datetime
    fingerprint_sha256: str


class CertificateAuthority(Protocol):
    """What the server's signing keys need of the CA: one CA, or the newest of a rotating
    series (mdm_server/crypto/ca_rotation.py) with the generations it succeeds."""

    def issued(self, certificate: x509.Certificate) -> bool: ...

    def issue_signer(
        self, public_key: ec.EllipticCurvePublicKey, *, name: str, now: datetime, days: int
    ) -> str: ...


def fingerprint(certificate: x509.Certificate) -> str:
    """SHA-256 over the DER encoding, lowercase hex: the `ca_sha256` of the QR payload."""
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()


def parse_device_csr(csr_pem: str) -> x509.CertificateSigningRequest:
    """A CSR whose signature verifies and whose key is EC P-256, or a 400 saying which not."""
    try:
        csr = x509.load_pem_x509_csr(csr_pem.encode("ascii", errors="strict"))
    except (ValueError, UnicodeEncodeError, UnsupportedAlgorithm):
        raise CertificateRequestError(
            "csr is not a PEM-encoded PKCS#10 certificate signing request"
        ) from None
    try:
        key = csr.public_key()
    except (ValueError, UnsupportedAlgorithm):
        raise CertificateRequestError("csr carries a public key this server cannot read") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise CertificateRequestError("csr key must be an EC P-256 (secp256r1) key")
    if not csr.is_signature_valid:
        raise CertificateRequestError("csr signature does not verify against its own key")
    return csr


class DeviceCA:
    """Signs device certificates. Its key lives in the data dir; its certificate is public."""

    def __init__(self, key: ec.EllipticCurvePrivateKey, certificate: x509.Certificate) -> None:
        self._key = key
        self.certificate = certificate
        self.certificate_pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
        self.fingerprint_sha256 = fingerprint(certificate)

    @classmethod
    def load_or_create(cls, keys: KeyStore, *, now: datetime, name: str) -> DeviceCA:
        """The CA from the key store, created (key and self-signed certificate) on first start."""
        key = keys.private_key(CA_KEY_FILE, lambda: ec.generate_private_key(ec.SECP256R1()))
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise KeyStoreError(f"{keys.path(CA_KEY_FILE)} is not an EC key")
        cert_path = keys.path(CA_CERT_FILE)
        if not cert_path.exists():
            with keys.creation_lock():
                if not cert_path.exists():
                    pem = self_signed(key, now=now, name=name).public_bytes(
                        serialization.Encoding.PEM
                    )
                    write_private_file(cert_path, pem)
        certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
        if certificate.public_key() != key.public_key():
            raise KeyStoreError(f"{cert_path} does not belong to {keys.path(CA_KEY_FILE)}")
        return cls(key, certificate)

    def issued(self, certificate: x509.Certificate) -> bool:
        """Whether this CA's key signed `certificate` (its issuer name and signature)."""
        try:
            certificate.verify_directly_issued_by(self.certificate)
        except (ValueError, TypeError, InvalidSignature):
            return False
        return True

    def cross_certify(self, successor: x509.Certificate, *, now: datetime) -> x509.Certificate:
        """The link to a successor CA: a CA certificate for the successor's key and name,
        signed by this CA, so a device that pinned this CA can trust the successor
        (docs/device-protocol.md §1.1). It is valid from `now`, the moment this CA stops
        issuing, to the end of the successor's own certificate."""
        public_key = successor.public_key()
        assert isinstance(public_key, ec.EllipticCurvePublicKey)
        return (
            x509.CertificateBuilder()
            .subject_name(successor.subject)
            .issuer_name(self.certificate.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now.replace(microsecond=0))
            .not_valid_after(successor.not_valid_after_utc)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_ca_usage(), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                critical=False,
            )
            .sign(self._key, hashes.SHA256())
        )

    def issue_signer(
        self, public_key: ec.EllipticCurvePublicKey, *, name: str, now: datetime, days: int
    ) -> str:
        """A certificate for one of the server's own signing keys (commands): devices trust
        what it signs because the CA they pinned at enrolment vouches for it."""
        certificate = (
            x509.CertificateBuilder()
            .subject_name(
                x509.Name(
                    [
                        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Tabard"),
                        x509.NameAttribute(NameOID.COMMON_NAME, name),
                    ]
                )
            )
            .issuer_name(self.certificate.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_end_entity_usage(key_agreement=False), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                critical=False,
            )
            .sign(self._key, hashes.SHA256())
        )
        return certificate.public_bytes(serialization.Encoding.PEM).decode()

    def issue(
        self, csr: x509.CertificateSigningRequest, *, device_id: uuid.UUID, now: datetime, days: int
    ) -> IssuedCertificate:
        """A client certificate for the CSR's key, naming the device; the CSR's own subject and
        extensions are ignored, so a device cannot ask for more than it is given."""
        public_key = csr.public_key()
        assert isinstance(public_key, ec.EllipticCurvePublicKey)
        return self.certify(public_key, device_id=device_id, now=now, days=days)

    def certify(
        self,
        public_key: ec.EllipticCurvePublicKey,
        *,
        device_id: uuid.UUID,
        now: datetime,
        days: int,
    ) -> IssuedCertificate:
        """A client certificate naming the device for a key already known to be its own (from
        its CSR at enrolment, or from its current certificate when renewing)."""
        not_before = now - BACKDATE
        not_after = now + timedelta(days=days)
        serial = x509.random_serial_number()
        certificate = (
            x509.CertificateBuilder()
            .subject_name(
                x509.Name(
                    [
                        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Tabard devices"),
                        x509.NameAttribute(NameOID.COMMON_NAME, str(device_id)),
                    ]
                )
            )
            .issuer_name(self.certificate.subject)
            .public_key(public_key)
            .serial_number(serial)
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_end_entity_usage(key_agreement=True), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                critical=False,
            )
            .sign(self._key, hashes.SHA256())
        )
        return IssuedCertificate(
            serial_number=format(serial, "x"),
            pem=certificate.public_bytes(serialization.Encoding.PEM).decode(),
            not_before=not_before.replace(microsecond=0),
            not_after=not_after.replace(microsecond=0),
            fingerprint_sha256=fingerprint(certificate),
        )


def _end_entity_usage(*, key_agreement: bool) -> x509.KeyUsage:
    """Signing (and, for a device key, ECDH key agreement); never certificate signing."""
    return x509.KeyUsage(
        digital_signature=True,
        key_agreement=key_agreement,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _ca_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        key_cert_sign=True,
        crl_sign=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        encipher_only=False,
        decipher_only=False,
    )


def self_signed(key: ec.EllipticCurvePrivateKey, *, now: datetime, name: str) -> x509.Certificate:
    """A self-signed device CA certificate for `key`, named `name`, valid 20 years."""
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Tabard"),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
        ]
    )
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_ca_usage(), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
