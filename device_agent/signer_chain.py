"""Following the server's command-signing key from one generation to the next
(docs/device-protocol.md §8.1).

A device that holds a signer certificate trusts a different one only if the CA it pinned at
enrolment issued it AND a chain of handover statements leads to it from the one it holds,
each statement signed by the key before it. So neither a certificate the CA issued for
another purpose, nor a handover signed by anything but the key being replaced, moves a
device onto a new key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from device_agent.ca_chain import CAChainError, TrustedCAs
from device_agent.errors import AgentError
from device_agent.identity import fingerprint

SIGNER_NAME = "Tabard command signing"
HANDOVER_TYPE = "tabard-signer-handover+jwt"
HANDOVER_CLAIMS = ("iss", "generation", "previous", "next", "certificate", "iat")


class SignerChainError(AgentError):
    """No trustworthy way from the signer held to the one offered; the message says why."""


@dataclass(frozen=True)
class Link:
    """One verified handover: the certificate handed to, and when."""

    certificate_pem: str
    sha256: str
    handed_over_at: datetime


def check_signer(
    certificate_pem: str, ca: x509.Certificate | TrustedCAs, *, now: datetime | None
) -> None:
    """The certificate is a command signer's, issued directly by the pinned CA (or, after
    the device CA was rotated, by a CA its links lead to, or by a retired one before it was
    replaced), with an EC key, and (if `now` is given) within its validity."""
    try:
        certificate = x509.load_pem_x509_certificate(certificate_pem.encode())
        if isinstance(ca, TrustedCAs):
            ca.vouches_for(certificate, now=None)
        else:
            certificate.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature, CAChainError):
        raise SignerChainError(
            "the command-signing certificate is not from the pinned CA"
        ) from None
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not names or names[0].value != SIGNER_NAME:
        raise SignerChainError("the certificate offered for signing commands is not one")
    if now is not None and not (
        certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc
    ):
        raise SignerChainError("the command-signing certificate is not currently valid")
    if not isinstance(certificate.public_key(), ec.EllipticCurvePublicKey):
        raise SignerChainError("the command-signing certificate does not hold an EC key")


def follow(
    held_pem: str,
    handovers: list[str],
    target_pem: str,
    *,
    ca: x509.Certificate | TrustedCAs,
    now: datetime,
) -> list[Link]:
    """The verified links from the held certificate to `target_pem`, oldest first; raises
    SignerChainError if any link is missing, forged, or hands to a certificate the CA did
    not issue."""
    check_signer(target_pem, ca, now=now)
    target = fingerprint(target_pem)
    current_pem, current = held_pem, fingerprint(held_pem)
    links: list[Link] = []
    while current != target:
        if len(links) > len(handovers):
            raise SignerChainError("the handover statements go round in a loop")
        claims = _next_link(current_pem, current, handovers)
        incoming = str(claims["certificate"])
        check_signer(incoming, ca, now=None)  # a link may since have expired; the CA issued it
        current_pem, current = incoming, fingerprint(incoming)
        links.append(Link(incoming, current, datetime.fromtimestamp(int(claims["iat"]), UTC)))
    return links


def _next_link(held_pem: str, held: str, handovers: list[str]) -> dict[str, Any]:
    """The claims of the handover out of `held`, verified against its key."""
    candidates = [s for s in handovers if _kid(s) == held]
    if not candidates:
        raise SignerChainError(
            f"no handover statement leads on from the command-signing certificate {held[:16]}; "
            "the server's new signer is not vouched for by the one this device trusts"
        )
    key = x509.load_pem_x509_certificate(held_pem.encode()).public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    for statement in candidates:
        try:
            claims = jwt.decode(
                statement, key, algorithms=["ES256"], options={"require": list(HANDOVER_CLAIMS)}
            )
        except jwt.PyJWTError:
            continue
        if jwt.get_unverified_header(statement).get("typ") != HANDOVER_TYPE:
            continue
        if claims["previous"] == held and _names(claims):
            return claims
    raise SignerChainError(
        f"the handover statement from the command-signing certificate {held[:16]} is not "
        "signed by its key (forged or altered); the new signer is not trusted"
    )


def _kid(statement: str) -> str | None:
    try:
        header = jwt.get_unverified_header(statement)
    except jwt.DecodeError:
        return None
    return header.get("kid") if header.get("alg") == "ES256" else None


def _names(claims: dict[str, Any]) -> bool:
    """The handover's `next` is its own certificate's fingerprint."""
    certificate = claims["certificate"]
    try:
        return isinstance(certificate, str) and fingerprint(certificate) == claims["next"]
    except ValueError:
        return False
