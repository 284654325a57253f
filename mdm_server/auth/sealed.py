"""Small sealed envelopes for sign-in state Tabard hands out and takes back: the console's
single sign-on flow (state, nonce, PKCE verifier) in a cookie, and the CLI's device sign-in
(the provider's device code) as an opaque handle. AES-256-GCM under a key derived from the
master key, with the purpose as associated data and an expiry inside, so they can be neither
read nor altered nor used for another purpose, and any API node can open them."""

from __future__ import annotations

import base64
import json
import os
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_PURPOSE = b"tabard/auth/sealed/v1"
NONCE_BYTES = 12


class Sealer:
    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal(self, purpose: str, values: dict[str, Any], *, expires_at: datetime) -> str:
        body = json.dumps({**values, "exp": int(expires_at.timestamp())}).encode("utf-8")
        nonce = os.urandom(NONCE_BYTES)
        sealed = nonce + self._aead.encrypt(nonce, body, purpose.encode("utf-8"))
        return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode("ascii")

    def open(self, purpose: str, sealed: str, *, now: datetime) -> dict[str, Any] | None:
        """The values, or None when the envelope is not one of ours, is for another purpose,
        or has expired."""
        try:
            raw = base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4))
            body = self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], purpose.encode())
            values = json.loads(body)
        except (InvalidTag, ValueError, UnicodeError):
            return None
        if not isinstance(values, dict) or int(values.get("exp", 0)) <= now.timestamp():
            return None
        return values
