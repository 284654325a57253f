"""Following the device CA from one generation to the next (docs/device-protocol.md §1.1).

A device trusts the CA it pinned at enrolment. It trusts a different CA only through a
**link**: a CA certificate for the new CA's key and name, issued by a CA it already trusts. A
CA that has been replaced is **retired**, not forgotten: it still vouches for a certificate it
issued before the link's `notBefore` (the moment it stopped issuing) for as long as that
certificate is valid, so trust in it ends when the last certificate it issued expires, and
nothing it signs afterwards is believed."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from device_agent.errors import AgentError, PinMismatchError
from device_agent.identity import fingerprint
from device_agent.state import CA_FILE, AgentState

CAS_FILE = "device-cas.json"  # every CA trusted, oldest first, with when each was retired


class CAChainError(AgentError):
    """No trustworthy way from the CA held to the one offered, or a certificate no CA held
    vouches for; the message says why."""


@dataclass(frozen=True)
class TrustedCA:
    pem: str
    sha256: str
    retired_at: datetime | None  # when its successor took over; None while it is current

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.pem.encode())


class TrustedCAs:
    """The device CAs this device trusts: the current one last."""

    def __init__(self, cas: Iterable[TrustedCA]) -> None:
        self.cas = list(cas)
        if not self.cas:
            raise CAChainError("no device CA is trusted")

    @classmethod
    def of(cls, ca_pem: str) -> TrustedCAs:
        """Only `ca_pem`, as pinned at enrolment."""
        return cls([TrustedCA(pem=ca_pem, sha256=fingerprint(ca_pem), retired_at=None)])

    @property
    def current(self) -> TrustedCA:
        return self.cas[-1]

    def vouches_for(self, certificate: x509.Certificate, *, now: datetime | None) -> None:
        """A trusted CA issued `certificate` (a retired one only before it was retired), and
        (if `now` is given) it is within its validity; else CAChainError saying why not."""
        for ca in reversed(self.cas):
            if not _issued_by(certificate, ca.certificate):
                continue
            if ca.retired_at is not None and certificate.not_valid_before_utc > ca.retired_at:
                raise CAChainError(
                    f"the certificate was issued by the device CA {ca.sha256[:16]} after it "
                    "was replaced; it is not trusted"
                )
            if now is not None and not (
                certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc
            ):
                raise CAChainError("the certificate is not currently valid")
            return
        raise CAChainError("the certificate is not issued by a device CA this device trusts")

    def follow(self, links: list[Mapping[str, Any]], target_pem: str) -> TrustedCAs:
        """The CAs trusted once the links lead from the current one to `target_pem`, or
        CAChainError if a link is missing or not issued by the CA before it."""
        target = fingerprint(target_pem)
        cas = list(self.cas)
        while cas[-1].sha256 != target:
            if len(cas) > len(self.cas) + len(links):
                raise CAChainError("the device CA links go round in a loop")
            held = cas[-1]
            step = _next_link(held, links)
            cas[-1] = TrustedCA(held.pem, held.sha256, retired_at=step.retired_at)
            cas.append(step.incoming)
        return TrustedCAs(cas)

    def to_json(self) -> dict[str, Any]:
        return {
            "cas": [
                {
                    "certificate": ca.pem,
                    "retired_at": ca.retired_at.isoformat() if ca.retired_at else None,
                }
                for ca in self.cas
            ]
        }


@dataclass(frozen=True)
class _Step:
    incoming: TrustedCA
    retired_at: datetime


def _next_link(held: TrustedCA, links: list[Mapping[str, Any]]) -> _Step:
    """The verified link out of `held`, among those published."""
    candidates = [link for link in links if link.get("previous_sha256") == held.sha256]
    if not candidates:
        raise CAChainError(
            f"no link leads on from the device CA {held.sha256[:16]}; the server's new device "
            "CA is not vouched for by the one this device trusts"
        )
    for candidate in candidates:
        step = _verified(held, candidate)
        if step is not None:
            return step
    raise CAChainError(
        f"the link from the device CA {held.sha256[:16]} is not issued by it (forged or "
        "altered); the new device CA is not trusted"
    )


def _verified(held: TrustedCA, candidate: Mapping[str, Any]) -> _Step | None:
    try:
        link = x509.load_pem_x509_certificate(str(candidate["link"]).encode())
        incoming_pem = str(candidate["certificate"])
        incoming = x509.load_pem_x509_certificate(incoming_pem.encode())
    except (KeyError, ValueError):
        return None
    if not _issued_by(link, held.certificate) or fingerprint(incoming_pem) != candidate.get(
        "sha256"
    ):
        return None
    if link.public_key() != incoming.public_key() or link.subject != incoming.subject:
        return None
    if not (_is_ca(link) and _is_ca(incoming) and _issued_by(incoming, incoming)):
        return None
    key = incoming.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        return None
    incoming_ca = TrustedCA(incoming_pem, fingerprint(incoming_pem), retired_at=None)
    return _Step(incoming=incoming_ca, retired_at=link.not_valid_before_utc)


def _issued_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    except x509.ExtensionNotFound:
        return False
    return constraints.value.ca


def links_of(published: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The `ca_links` of a GET /api/v1/ca answer (absent from older servers: none)."""
    links = published.get("ca_links") or []
    if not isinstance(links, list):
        raise CAChainError("the server's device CA links are not a list")
    return [link for link in links if isinstance(link, Mapping)]


def from_pinned(pinned: str, published: Mapping[str, Any]) -> TrustedCAs:
    """At enrolment: the CAs trusted from the CA the QR code pinned to the one the server
    publishes now, following links if the CA was rotated after the QR code was made."""
    ca_pem = str(published["certificate"])
    if fingerprint(ca_pem) == pinned:
        return TrustedCAs.of(ca_pem)
    links = links_of(published)
    for link in links:
        previous = link.get("previous_certificate")
        if isinstance(previous, str) and fingerprint(previous) == pinned:
            try:
                return TrustedCAs.of(previous).follow(links, ca_pem)
            except CAChainError as exc:
                raise PinMismatchError(
                    f"the server's device CA ({fingerprint(ca_pem)[:16]}…) is not linked "
                    f"from the pinned one ({pinned[:16]}…): {exc}; refusing to send the "
                    "enrolment token"
                ) from None
    raise PinMismatchError(
        f"the server's device CA ({fingerprint(ca_pem)[:16]}…) is not the pinned one "
        f"({pinned[:16]}…); refusing to send the enrolment token"
    )


def load(state: AgentState) -> TrustedCAs:
    """The CAs this device trusts (an agent enrolled before CA rotation holds only ca.pem)."""
    if not state.path(CAS_FILE).exists():
        return TrustedCAs.of(state.read(CA_FILE).decode())
    kept = state.read_json(CAS_FILE)
    return TrustedCAs(
        TrustedCA(
            pem=str(ca["certificate"]),
            sha256=fingerprint(str(ca["certificate"])),
            retired_at=datetime.fromisoformat(ca["retired_at"]) if ca["retired_at"] else None,
        )
        for ca in kept["cas"]
    )


def save(state: AgentState, cas: TrustedCAs) -> None:
    """Keep the CAs trusted; `ca.pem` is the current one."""
    state.write(CAS_FILE, json.dumps(cas.to_json(), indent=2).encode() + b"\n")
    state.write(CA_FILE, cas.current.pem.encode())


def follow_published(state: AgentState, published: Mapping[str, Any]) -> TrustedCAs:
    """Move to the CA the server publishes, through its links, and keep it; CAChainError
    (and nothing kept) if the links do not lead there from a CA this device trusts."""
    cas = load(state)
    target = published.get("certificate")
    if not isinstance(target, str):
        raise CAChainError("the server published no device CA")
    if fingerprint(target) == cas.current.sha256:
        return cas
    if any(ca.sha256 == fingerprint(target) for ca in cas.cas):
        raise CAChainError("the server publishes a device CA this device has seen replaced")
    followed = cas.follow(links_of(published), target)
    save(state, followed)
    return followed


def check_own_certificate(
    certificate_pem: str,
    cas: TrustedCAs,
    *,
    key: ec.EllipticCurvePrivateKey,
    device_id: str,
    now: datetime,
) -> None:
    """A certificate offered to this device (renewed) is current, a trusted CA issued it, it
    certifies this device's key and names this device; else CAChainError saying why not."""
    try:
        certificate = x509.load_pem_x509_certificate(certificate_pem.encode())
    except ValueError:
        raise CAChainError("the certificate offered is not a PEM certificate") from None
    cas.vouches_for(certificate, now=now)
    if certificate.public_key() != key.public_key():
        raise CAChainError("the certificate offered is for a different key")
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not names or names[0].value != device_id:
        raise CAChainError("the certificate offered does not name this device")
