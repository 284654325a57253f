"""The server master key: 32 random bytes in `keys/master.key` (mode 0600) under which every
container key is stored wrapped (AES-256-GCM, NIST SP 800-38D). The database alone never
yields a container key; destroying a wrapped copy destroys the key (crypto-shred)."""

from __future__ import annotations

import os
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from mdm_server.crypto.keystore import KeyStore, KeyStoreError

KEY_FILE = "master.key"
KEY_BYTES = 32
NONCE_BYTES = 12


class UnwrapError(RuntimeError):
    """A wrapped key failed authentication: wrong master key, or altered in storage."""


class MasterKey:
    """Wraps and unwraps secrets bound, by associated data, to what they belong to."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise KeyStoreError(f"the master key must be {KEY_BYTES} bytes")
        self._key = key
        self._aead = AESGCM(key)

    @classmethod
    def load_or_create(cls, keys: KeyStore) -> MasterKey:
        return cls(keys.read_or_create(KEY_FILE, lambda: secrets.token_bytes(KEY_BYTES)))

    def wrap(self, secret: bytes, *, bound_to: bytes) -> bytes:
        """`nonce || ciphertext || tag`; only `unwrap` with the same `bound_to` opens it."""
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, secret, bound_to)

    def unwrap(self, wrapped: bytes, *, bound_to: bytes) -> bytes:
        try:
            return self._aead.decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], bound_to)
        except (InvalidTag, ValueError):
            raise UnwrapError("a wrapped key failed authentication") from None

    def derive(self, purpose: bytes) -> bytes:
        """A 32-byte key for one purpose (HKDF-SHA256, RFC 5869), so that a key used for
        something else never needs a file of its own and is never the master key itself."""
        return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=purpose).derive(
            self._key
        )

    def __repr__(self) -> str:
        return "MasterKey(<hidden>)"
