"""The device's key pair, its certificate, and the assertions it signs for every request.

On a real handset the private key lives in the Android keystore and never leaves it; here it
is a PEM file in the agent's state directory with mode 0600."""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import jwt
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from device_agent.errors import AgentError, PinMismatchError

ASSERTION_LIFETIME_S = 30  # the server accepts at most 60

EVENT_TYPE = "tabard-device-event+jwt"


def fingerprint(certificate_pem: str) -> str:
    """SHA-256 over the certificate's DER, lowercase hex."""
    certificate = x509.load_pem_x509_certificate(certificate_pem.encode())
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()


def generate_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def certificate_request(key: ec.EllipticCurvePrivateKey) -> str:
    """A PKCS#10 request for the key. The server sets the real subject, so ours is a placeholder."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tabard-device")])
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def check_issued_certificate(
    *, certificate_pem: str, ca_pem: str, key: ec.EllipticCurvePrivateKey, device_id: str
) -> None:
    """The certificate must certify our key, name our device and be signed by the pinned CA."""
    certificate = x509.load_pem_x509_certificate(certificate_pem.encode())
    ca = x509.load_pem_x509_certificate(ca_pem.encode())
    try:
        certificate.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        raise PinMismatchError("issued certificate is not signed by the pinned CA") from None
    if certificate.public_key() != key.public_key():
        raise AgentError("issued certificate is for a different key")
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not names or names[0].value != device_id:
        raise AgentError("issued certificate does not name this device")


@dataclass(frozen=True)
class DeviceIdentity:
    """What an enrolled device proves itself with."""

    device_id: str
    key: ec.EllipticCurvePrivateKey
    certificate_pem: str
    audience: str

    def assertion(self, *, method: str, url: str, now: float | None = None) -> str:
        """An ES256 device assertion for one request (DESIGN.md flow 2): `htu` is the path."""
        issued = int(now if now is not None else time.time())
        claims = {
            "iss": self.device_id,
            "sub": self.device_id,
            "aud": self.audience,
            "iat": issued,
            "exp": issued + ASSERTION_LIFETIME_S,
            "jti": uuid.uuid4().hex,
            "htm": method.upper(),
            "htu": urlsplit(url).path,
        }
        return jwt.encode(claims, self.key, algorithm="ES256")

    def sign_event(self, event: dict[str, Any], *, now: float | None = None) -> str:
        """An outbox event as the device signs it for upload (docs/device-protocol.md §7): a
        JWS whose payload is the event and `iss`, the device id."""
        claims = {
            **event,
            "iss": self.device_id,
            "iat": int(now if now is not None else time.time()),
        }
        return jwt.encode(claims, self.key, algorithm="ES256", headers={"typ": EVENT_TYPE})

    def private_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @staticmethod
    def load_key(pem: bytes) -> ec.EllipticCurvePrivateKey:
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise AgentError("device key is not an EC key")
        return key
