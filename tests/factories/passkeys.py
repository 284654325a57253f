"""A software authenticator for API tests: it answers WebAuthn challenges as a browser and a
passkey would (W3C WebAuthn Level 3 §6.1, §6.5), with an EC P-256 key, so tests can also
answer wrongly on purpose (another origin, another challenge, a spoilt signature)."""

from __future__ import annotations

import hashlib
import json
import os
import struct
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI
from fido2.cose import ES256
from fido2.utils import websafe_decode, websafe_encode
from fido2.webauthn import AttestationObject, AttestedCredentialData, AuthenticatorData

from mdm_server.auth.models import Passkey, StaffUser
from mdm_server.context import AppContext

UP, UV, AT = 0x01, 0x04, 0x40


@dataclass
class SoftPasskey:
    """One passkey on a software authenticator."""

    rp_id: str = "testserver"
    origin: str = "http://testserver"
    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    credential_id: bytes = field(default_factory=lambda: os.urandom(32))
    counter: int = 0

    @property
    def id(self) -> str:
        return websafe_encode(self.credential_id)

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        data = {"type": kind, "challenge": challenge, "origin": origin or self.origin}
        return json.dumps({**data, "crossOrigin": False}).encode()

    def create(self, options: dict[str, Any], *, origin: str | None = None) -> dict[str, Any]:
        """The answer to navigator.credentials.create(options), as toJSON() gives it."""
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        public_key = ES256.from_cryptography_key(self.key.public_key())
        credential = AttestedCredentialData.create(b"\0" * 16, self.credential_id, public_key)
        rp_hash = hashlib.sha256(options["rp"]["id"].encode()).digest()
        auth_data = AuthenticatorData.create(rp_hash, UP | UV | AT, self.counter, credential)
        attestation = AttestationObject.create("none", auth_data, {})
        return {
            "id": self.id,
            "rawId": self.id,
            "type": "public-key",
            "response": {
                "clientDataJSON": websafe_encode(client_data),
                "attestationObject": websafe_encode(bytes(attestation)),
                "transports": ["internal"],
            },
            "clientExtensionResults": {},
        }

    def get(
        self,
        options: dict[str, Any],
        *,
        origin: str | None = None,
        challenge: str | None = None,
        spoil_signature: bool = False,
    ) -> dict[str, Any]:
        """The answer to navigator.credentials.get(options), as toJSON() gives it."""
        self.counter += 1
        client_data = self._client_data("webauthn.get", challenge or options["challenge"], origin)
        rp_hash = hashlib.sha256(options.get("rpId", self.rp_id).encode()).digest()
        auth_data = rp_hash + bytes([UP | UV]) + struct.pack(">I", self.counter)
        signed = auth_data + hashlib.sha256(client_data).digest()
        signature = self.key.sign(signed, ec.ECDSA(hashes.SHA256()))
        if spoil_signature:
            signature = signature[:-1] + bytes([signature[-1] ^ 1])
        return {
            "id": self.id,
            "rawId": self.id,
            "type": "public-key",
            "response": {
                "clientDataJSON": websafe_encode(client_data),
                "authenticatorData": websafe_encode(auth_data),
                "signature": websafe_encode(signature),
            },
            "clientExtensionResults": {},
        }


def register_passkey(app: FastAPI, user: StaffUser, name: str = "Work phone") -> SoftPasskey:
    """A passkey stored for `user` as registering one leaves it (for tests of what comes
    after, such as the CLI, whose live server is reached by an IP address, for which browsers
    would make none)."""
    context: AppContext = app.state.context
    key = SoftPasskey()
    public_key = ES256.from_cryptography_key(key.key.public_key())
    data = AttestedCredentialData.create(b"\0" * 16, key.credential_id, public_key)
    with context.database.unit_of_work() as session:
        session.add(
            Passkey(
                user_id=user.id,
                name=name,
                credential_id=key.id,
                credential_data=bytes(data),
                created_at=context.clock(),
            )
        )
    return key


def another_challenge() -> str:
    return websafe_encode(os.urandom(32))


def challenge_of(answer: dict[str, Any]) -> str:
    client_data = json.loads(websafe_decode(answer["response"]["clientDataJSON"]))
    return str(client_data["challenge"])
