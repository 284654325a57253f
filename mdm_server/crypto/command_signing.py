"""The key the server signs command envelopes with (DESIGN.md flow 4), and the certificate the
device CA gives it, so a device trusts envelopes through the CA it pinned at enrolment.

An envelope is a JWS compact serialisation (RFC 7515) signed ES256. Header: `alg` `ES256`,
`typ` `tabard-command+jwt`, `kid` the SHA-256 fingerprint of the signing certificate. Claims:
`iss` the server's public URL, `aud` and `device_id` the device id, `command_id`, `seq` (the
device's command order), `type`, `params`, `iat`, `nbf` (not before) and `exp`."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from mdm_server.crypto.ca import CertificateAuthority, fingerprint
from mdm_server.crypto.keystore import KeyStore, KeyStoreError

# An envelope is good for a short while only: a captured one cannot be replayed later, and a
# delivered command whose envelope lapsed without a receipt can be cancelled safely (the
# device refuses the old envelope) or sent again under a fresh one.
ENVELOPE_LIFETIME = timedelta(minutes=2)
ENVELOPE_SKEW = timedelta(seconds=60)  # the clock tolerance devices apply (device protocol §8.2)
KEY_FILE = "command-signing.key"
CERT_FILE = "command-signing.pem"
SIGNER_NAME = "Tabard command signing"
ENVELOPE_TYPE = "tabard-command+jwt"
CERTIFICATE_DAYS = 5 * 365
ALGORITHM = "ES256"


@dataclass(frozen=True)
class EnvelopeClaims:
    device_id: uuid.UUID
    command_id: uuid.UUID
    seq: int
    type: str
    params: dict[str, Any]
    issued_at: datetime
    not_before: datetime
    expires_at: datetime


class EnvelopeSigner(Protocol):
    """Whatever signs envelopes: one key, or the newest of a rotating series."""

    def sign(self, claims: EnvelopeClaims) -> str: ...


def envelope_digest(envelope: str) -> str:
    """SHA-256 of the envelope's exact text, lowercase hex: what a receipt names it by."""
    return hashlib.sha256(envelope.encode("ascii")).hexdigest()


class CommandSigner:
    def __init__(
        self, key: ec.EllipticCurvePrivateKey, certificate_pem: str, *, issuer: str
    ) -> None:
        self._key = key
        self.issuer = issuer  # the server's public URL, the `iss` of every envelope
        self.certificate_pem = certificate_pem
        self.fingerprint_sha256 = fingerprint(
            x509.load_pem_x509_certificate(certificate_pem.encode())
        )

    @classmethod
    def load_or_create(
        cls, keys: KeyStore, *, ca: CertificateAuthority, issuer: str, now: datetime
    ) -> CommandSigner:
        """The signer from the key store; key and CA-issued certificate made on first start."""
        key = keys.private_key(KEY_FILE, lambda: ec.generate_private_key(ec.SECP256R1()))
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise KeyStoreError(f"{keys.path(KEY_FILE)} is not an EC key")
        pem = keys.read_or_create(
            CERT_FILE,
            lambda: ca.issue_signer(
                key.public_key(), name=SIGNER_NAME, now=now, days=CERTIFICATE_DAYS
            ).encode(),
        ).decode()
        certificate = x509.load_pem_x509_certificate(pem.encode())
        if certificate.public_key() != key.public_key():
            raise KeyStoreError(f"{keys.path(CERT_FILE)} does not belong to {keys.path(KEY_FILE)}")
        return cls(key, pem, issuer=issuer)

    def sign(self, claims: EnvelopeClaims) -> str:
        payload = {
            "iss": self.issuer,
            "aud": str(claims.device_id),
            "device_id": str(claims.device_id),
            "command_id": str(claims.command_id),
            "seq": claims.seq,
            "type": claims.type,
            "params": claims.params,
            "iat": int(claims.issued_at.timestamp()),
            "nbf": int(claims.not_before.timestamp()),
            "exp": int(claims.expires_at.timestamp()),
        }
        return self.sign_statement(payload, typ=ENVELOPE_TYPE)

    def sign_statement(self, payload: dict[str, Any], *, typ: str) -> str:
        """A JWS (ES256) of `payload` by this key, its `kid` this certificate's fingerprint."""
        headers = {"typ": typ, "kid": self.fingerprint_sha256}
        return jwt.encode(payload, self._key, algorithm=ALGORITHM, headers=headers)
