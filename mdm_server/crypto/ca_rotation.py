"""Replacing the device CA while the server runs (docs/operations.md, Key rotation; the device
protocol §1.1).

Each CA is a **generation**. Generation 0 is `device-ca.key` and `device-ca.pem`, made on
first start. Generation N (1, 2, ...) adds three files and changes none: `device-ca.N.key`,
`device-ca.N.pem` (self-signed, named `Tabard Device CA, generation N`) and
`device-ca.N.link.pem`, the **link**: a CA certificate for generation N's key and name, issued
by generation N-1. The link is written last, so its presence means the generation is whole; a
worker that finds the next link file issues from the new CA at once. No key file the server
loaded ever changes, so readiness (`KeyStore.problems`) is not tripped by a rotation.

A device that pinned generation N-1 trusts generation N through the link alone. The link's
`notBefore` is the moment generation N-1 stopped issuing: devices keep trusting the older CA
for the certificates it issued before then, each until it expires."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mdm_server.crypto.ca import CA_CERT_FILE, CA_KEY_FILE, DeviceCA, fingerprint, self_signed
from mdm_server.crypto.keystore import KeyStore, KeyStoreError, write_private_file

log = logging.getLogger("tabard.keys")
CA_NAME = "Tabard Device CA"


@dataclass(frozen=True)
class CARotation:
    generation: int
    previous_sha256: str
    sha256: str
    not_valid_after: datetime
    ca: DeviceCA  # the new CA, for what must be issued by it at once (a command signer)


def generation_files(generation: int) -> tuple[str, str, str | None]:
    """The key, certificate and link file names of a generation (no link for 0)."""
    if generation == 0:
        return CA_KEY_FILE, CA_CERT_FILE, None
    stem = f"device-ca.{generation}"
    return f"{stem}.key", f"{stem}.pem", f"{stem}.link.pem"


def generation_name(generation: int, name: str = CA_NAME) -> str:
    """The CA's subject CN: distinct per generation, so an issuer name says which CA it was."""
    return name if generation == 0 else f"{name}, generation {generation}"


def check_link(link: x509.Certificate, *, outgoing: DeviceCA, incoming: x509.Certificate) -> None:
    """The link is a CA certificate for `incoming`'s key and name issued by `outgoing`, or
    KeyStoreError saying why not."""
    if not outgoing.issued(link):
        raise KeyStoreError("the link is not signed by the CA before it")
    if link.public_key() != incoming.public_key() or link.subject != incoming.subject:
        raise KeyStoreError("the link does not name the new CA's key and subject")
    constraints = link.extensions.get_extension_for_class(x509.BasicConstraints).value
    if not constraints.ca:
        raise KeyStoreError("the link is not a CA certificate")


class RotatingDeviceCA:
    """The device CA of the newest whole generation, followed as rotations add them, with
    every older generation it succeeds (whose certificates still stand until they expire).

    Every use looks (one `stat`) for the next generation's link file, so each worker of a
    running server issues from the new CA from the first certificate after a rotation."""

    def __init__(self, keys: KeyStore, first: DeviceCA) -> None:
        self._keys = keys
        self.generations: list[DeviceCA] = [first]
        self.links: list[x509.Certificate] = []  # links[i] leads from generation i to i + 1
        self._lock = threading.Lock()
        self._problem: str | None = None
        self._follow()

    @classmethod
    def load_or_create(cls, keys: KeyStore, *, now: datetime) -> RotatingDeviceCA:
        """Generation 0 (made on first start), then every generation rotations have added."""
        return cls(keys, DeviceCA.load_or_create(keys, now=now, name=CA_NAME))

    @property
    def generation(self) -> int:
        """The number of the newest generation on disk."""
        self.current()
        return len(self.generations) - 1

    def current(self) -> DeviceCA:
        """The CA to issue from now: the newest generation on disk."""
        _, _, link = generation_files(len(self.generations))
        assert link is not None
        if self._keys.path(link).exists():
            self._follow()
        return self.generations[-1]

    def since(self) -> datetime | None:
        """When the current generation took over (its link's notBefore); None for the first."""
        self.current()
        return self.links[-1].not_valid_before_utc if self.links else None

    def issued(self, certificate: x509.Certificate) -> bool:
        """Whether any generation, current or retired, signed `certificate`."""
        self.current()
        return any(ca.issued(certificate) for ca in self.generations)

    def issue_signer(
        self, public_key: ec.EllipticCurvePublicKey, *, name: str, now: datetime, days: int
    ) -> str:
        """A certificate for one of the server's signing keys, from the current CA."""
        return self.current().issue_signer(public_key, name=name, now=now, days=days)

    def published_links(self) -> list[dict[str, object]]:
        """Every link, oldest first, with the CAs on either side (device protocol §1.1)."""
        self.current()
        with self._lock:
            pairs = list(zip(self.generations, self.generations[1:], self.links, strict=False))
        return [
            {
                "generation": number,
                "previous_certificate": outgoing.certificate_pem,
                "previous_sha256": outgoing.fingerprint_sha256,
                "link": link.public_bytes(serialization.Encoding.PEM).decode(),
                "certificate": incoming.certificate_pem,
                "sha256": incoming.fingerprint_sha256,
            }
            for number, (outgoing, incoming, link) in enumerate(pairs, start=1)
        ]

    def problems(self) -> list[str]:
        """Why a rotation on disk is not being followed (for readiness), after looking again."""
        self.current()
        return [self._problem] if self._problem else []

    def _follow(self) -> None:
        with self._lock:
            while True:
                generation = len(self.generations)
                _, _, link_file = generation_files(generation)
                assert link_file is not None
                if not self._keys.path(link_file).exists():
                    return
                try:
                    self._take(generation)
                except (KeyStoreError, ValueError, OSError, x509.ExtensionNotFound) as exc:
                    # Keep issuing from the CA we hold: devices still trust it.
                    if self._problem is None:
                        log.error("not following device CA generation: %s", exc)
                    self._problem = (
                        f"device CA generation {generation} cannot be used, so this worker "
                        f"still issues from generation {generation - 1}: {exc}"
                    )
                    return
                self._problem = None

    def _take(self, generation: int) -> None:
        key_file, cert_file, link_file = generation_files(generation)
        assert link_file is not None
        link = x509.load_pem_x509_certificate(self._keys.read_or_create(link_file, _exists))
        key = serialization.load_pem_private_key(
            self._keys.read_or_create(key_file, _exists), password=None
        )
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise KeyStoreError(f"{self._keys.path(key_file)} is not an EC key")
        certificate = x509.load_pem_x509_certificate(self._keys.read_or_create(cert_file, _exists))
        if certificate.public_key() != key.public_key():
            raise KeyStoreError(f"{self._keys.path(cert_file)} does not belong to {key_file}")
        check_link(link, outgoing=self.generations[-1], incoming=certificate)
        self.generations.append(DeviceCA(key, certificate))
        self.links.append(link)
        log.info("issuing device certificates from CA generation %d", generation)


def interrupted(cas: RotatingDeviceCA, signer_pem: str) -> CARotation | None:
    """The newest generation, if the command signer in use is not from it: a `tabard keys
    rotate device-ca` made it and was cut short before the signer moved to it."""
    current = cas.current()
    signer = x509.load_pem_x509_certificate(signer_pem.encode())
    if cas.generation == 0 or current.issued(signer):
        return None
    return CARotation(
        generation=cas.generation,
        previous_sha256=cas.generations[-2].fingerprint_sha256,
        sha256=current.fingerprint_sha256,
        not_valid_after=current.certificate.not_valid_after_utc,
        ca=current,
    )


def _exists() -> bytes:
    raise KeyStoreError("a generation's files are written before its link; one is missing")


def rotate(keys: KeyStore, *, now: datetime) -> CARotation:
    """Add a generation: a new CA key, its self-signed certificate, and the link issued by the
    CA in use. Running workers issue from the new CA from their next certificate."""
    cas = RotatingDeviceCA.load_or_create(keys, now=now)
    with keys.creation_lock():
        outgoing = cas.current()  # another rotation may have finished while we waited
        generation = cas.generation + 1
        key_file, cert_file, link_file = generation_files(generation)
        assert link_file is not None
        key = ec.generate_private_key(ec.SECP256R1())
        certificate = self_signed(key, now=now, name=generation_name(generation))
        link = outgoing.cross_certify(certificate, now=now)
        # Leftovers of a rotation cut short before its link: no worker ever used them.
        for name in (key_file, cert_file):
            keys.path(name).unlink(missing_ok=True)
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        write_private_file(keys.path(key_file), key_pem)
        pem = serialization.Encoding.PEM
        write_private_file(keys.path(cert_file), certificate.public_bytes(pem))
        if not write_private_file(keys.path(link_file), link.public_bytes(pem)):
            raise KeyStoreError(f"{keys.path(link_file)} appeared during the rotation")
    return CARotation(
        generation=generation,
        previous_sha256=outgoing.fingerprint_sha256,
        sha256=fingerprint(certificate),
        not_valid_after=certificate.not_valid_after_utc,
        ca=DeviceCA(key, certificate),
    )
