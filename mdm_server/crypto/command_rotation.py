"""Replacing the command-signing key while the server runs (docs/operations.md, Key rotation;
docs/device-protocol.md §8.1).

Each key is a **generation**. Generation 0 is `command-signing.key` and `command-signing.pem`,
made on first start. Generation N (1, 2, ...) adds three files and changes none:
`command-signing.N.key`, `command-signing.N.pem` (issued by the device CA) and
`command-signing.N.handover`, a statement signed by generation N-1's key naming generation N's
certificate. The handover is written last, so its presence means the generation is whole; a
worker that finds the next handover file switches to it at once. No key file the server
loaded ever changes, so readiness (`KeyStore.problems`) is not tripped by a rotation.

A handover is a JWS compact serialisation (RFC 7515) signed ES256. Header: `alg` `ES256`,
`typ` `tabard-signer-handover+jwt`, `kid` the SHA-256 fingerprint of the outgoing
certificate. Claims: `iss` the server's public URL, `generation` N, `previous` the outgoing
certificate's fingerprint (the `kid` again), `next` the incoming certificate's fingerprint,
`certificate` the incoming certificate (PEM), `iat`."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mdm_server.crypto.ca import CertificateAuthority, fingerprint
from mdm_server.crypto.command_signing import (
    ALGORITHM,
    CERT_FILE,
    CERTIFICATE_DAYS,
    KEY_FILE,
    SIGNER_NAME,
    CommandSigner,
    EnvelopeClaims,
)
from mdm_server.crypto.keystore import KeyStore, KeyStoreError, write_private_file

log = logging.getLogger("tabard.keys")
HANDOVER_TYPE = "tabard-signer-handover+jwt"
HANDOVER_CLAIMS = ("iss", "generation", "previous", "next", "certificate", "iat")


class HandoverError(ValueError):
    """A handover statement that does not hand over from the key it should."""


@dataclass(frozen=True)
class Rotation:
    generation: int
    previous_sha256: str
    sha256: str
    not_valid_after: datetime
    handover: str


def generation_files(generation: int) -> tuple[str, str, str | None]:
    """The key, certificate and handover file names of a generation (no handover for 0)."""
    if generation == 0:
        return KEY_FILE, CERT_FILE, None
    stem = f"command-signing.{generation}"
    return f"{stem}.key", f"{stem}.pem", f"{stem}.handover"


def sign_handover(
    outgoing: CommandSigner, certificate_pem: str, *, generation: int, now: datetime
) -> str:
    """The statement, signed by `outgoing`, that generation `generation` succeeds it."""
    certificate = x509.load_pem_x509_certificate(certificate_pem.encode())
    claims = {
        "iss": outgoing.issuer,
        "generation": generation,
        "previous": outgoing.fingerprint_sha256,
        "next": fingerprint(certificate),
        "certificate": certificate_pem,
        "iat": int(now.timestamp()),
    }
    return outgoing.sign_statement(claims, typ=HANDOVER_TYPE)


def verify_handover(statement: str, *, outgoing: x509.Certificate) -> dict[str, Any]:
    """The claims of a handover signed by `outgoing`'s key, or HandoverError saying why not."""
    try:
        header = jwt.get_unverified_header(statement)
    except jwt.DecodeError:
        raise HandoverError("the handover is not a JWS") from None
    if header.get("alg") != ALGORITHM or header.get("typ") != HANDOVER_TYPE:
        raise HandoverError(f"the handover must be an ES256 {HANDOVER_TYPE}")
    key = outgoing.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise HandoverError("the outgoing certificate does not hold an EC key")
    try:
        claims = jwt.decode(
            statement, key, algorithms=[ALGORITHM], options={"require": list(HANDOVER_CLAIMS)}
        )
    except jwt.InvalidSignatureError:
        raise HandoverError("the handover is not signed by the outgoing key") from None
    except jwt.PyJWTError as exc:
        raise HandoverError(f"the handover is malformed: {exc}") from None
    if claims["previous"] != fingerprint(outgoing):
        raise HandoverError("the handover names another outgoing certificate")
    incoming = x509.load_pem_x509_certificate(str(claims["certificate"]).encode())
    if fingerprint(incoming) != claims["next"]:
        raise HandoverError("the handover's certificate is not the one its `next` names")
    return claims


class RotatingCommandSigner:
    """The command signer of the newest whole generation, followed as rotations add them.

    Every use looks (one `stat`) for the next generation's handover file, so each worker of
    a running server signs with the new key from the first envelope after a rotation."""

    def __init__(self, keys: KeyStore, first: CommandSigner, *, ca: CertificateAuthority) -> None:
        self._keys = keys
        self._ca = ca
        self._signer = first
        self._handovers: list[str] = []
        self._lock = threading.Lock()
        self.generation = 0
        self._problem: str | None = None
        self._follow()

    @classmethod
    def load_or_create(
        cls, keys: KeyStore, *, ca: CertificateAuthority, issuer: str, now: datetime
    ) -> RotatingCommandSigner:
        """Generation 0 (made on first start), then every generation rotations have added."""
        return cls(keys, CommandSigner.load_or_create(keys, ca=ca, issuer=issuer, now=now), ca=ca)

    def current(self) -> CommandSigner:
        """The signer to use now: the newest generation on disk."""
        _, _, handover = generation_files(self.generation + 1)
        assert handover is not None
        if self._keys.path(handover).exists():
            self._follow()
        return self._signer

    def published(self) -> tuple[str, list[str]]:
        """The current certificate and every handover statement, oldest first (generation
        1's, then 2's, ...), taken together so the last handover names that certificate."""
        self.current()
        with self._lock:
            return self._signer.certificate_pem, list(self._handovers)

    def problems(self) -> list[str]:
        """Why a rotation on disk is not being followed (for readiness), after looking again."""
        self.current()
        return [self._problem] if self._problem else []

    @property
    def issuer(self) -> str:
        return self._signer.issuer

    @property
    def certificate_pem(self) -> str:
        return self.current().certificate_pem

    @property
    def fingerprint_sha256(self) -> str:
        return self.current().fingerprint_sha256

    def sign(self, claims: EnvelopeClaims) -> str:
        """An envelope signed by the current generation's key."""
        return self.current().sign(claims)

    def _follow(self) -> None:
        with self._lock:
            while True:
                _, _, handover_file = generation_files(self.generation + 1)
                assert handover_file is not None
                if not self._keys.path(handover_file).exists():
                    return
                try:
                    self._take(self.generation + 1)
                except (KeyStoreError, HandoverError, ValueError, OSError) as exc:
                    # Keep signing with the key we hold: devices still trust it.
                    if self._problem is None:
                        log.error("not following command-signing generation: %s", exc)
                    self._problem = (
                        f"command-signing generation {self.generation + 1} cannot be used, "
                        f"so this worker still signs with generation {self.generation}: {exc}"
                    )
                    return
                self._problem = None

    def _take(self, generation: int) -> None:
        key_file, cert_file, handover_file = generation_files(generation)
        assert handover_file is not None
        statement = self._keys.read_or_create(handover_file, _exists).decode()
        outgoing = x509.load_pem_x509_certificate(self._signer.certificate_pem.encode())
        claims = verify_handover(statement, outgoing=outgoing)
        if claims["generation"] != generation:
            raise HandoverError(f"{handover_file} names generation {claims['generation']}")
        key = serialization.load_pem_private_key(
            self._keys.read_or_create(key_file, _exists), password=None
        )
        pem = self._keys.read_or_create(cert_file, _exists).decode()
        certificate = x509.load_pem_x509_certificate(pem.encode())
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise KeyStoreError(f"{self._keys.path(key_file)} is not an EC key")
        if certificate.public_key() != key.public_key() or pem != claims["certificate"]:
            raise KeyStoreError(f"{self._keys.path(cert_file)} does not belong to {key_file}")
        if not self._ca.issued(certificate):
            raise KeyStoreError(f"{self._keys.path(cert_file)} is not issued by the device CA")
        self._signer = CommandSigner(key, pem, issuer=self._signer.issuer)
        self._handovers.append(statement)
        self.generation = generation
        log.info("signing commands with generation %d (%s)", generation, fingerprint(certificate))


def _exists() -> bytes:
    raise KeyStoreError("a generation's files are written before its handover; one is missing")


def rotate(keys: KeyStore, *, ca: CertificateAuthority, issuer: str, now: datetime) -> Rotation:
    """Add a generation: a new key, its CA-issued certificate, and the handover signed by the
    key in use. Running workers follow on their next envelope."""
    signing = RotatingCommandSigner.load_or_create(keys, ca=ca, issuer=issuer, now=now)
    with keys.creation_lock():
        outgoing = signing.current()  # another rotation may have finished while we waited
        generation = signing.generation + 1
        key_file, cert_file, handover_file = generation_files(generation)
        assert handover_file is not None
        key = ec.generate_private_key(ec.SECP256R1())
        pem = ca.issue_signer(key.public_key(), name=SIGNER_NAME, now=now, days=CERTIFICATE_DAYS)
        # Leftovers of a rotation cut short before its handover: no worker ever used them.
        for name in (key_file, cert_file):
            keys.path(name).unlink(missing_ok=True)
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        write_private_file(keys.path(key_file), key_pem)
        write_private_file(keys.path(cert_file), pem.encode())
        handover = sign_handover(outgoing, pem, generation=generation, now=now)
        if not write_private_file(keys.path(handover_file), handover.encode()):
            raise KeyStoreError(f"{keys.path(handover_file)} appeared during the rotation")
    certificate = x509.load_pem_x509_certificate(pem.encode())
    return Rotation(
        generation=generation,
        previous_sha256=outgoing.fingerprint_sha256,
        sha256=fingerprint(certificate),
        not_valid_after=certificate.not_valid_after_utc,
        handover=handover,
    )
