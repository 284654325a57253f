"""High-entropy bearer secrets (enrolment tokens, refresh tokens): generated here, shown once,
stored only as SHA-256 digests and compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets

SECRET_BYTES = 32  # 256 bits; the issue asks for at least 128


def new_secret(nbytes: int = SECRET_BYTES) -> str:
    """A URL-safe random secret (base64url, no padding)."""
    return secrets.token_urlsafe(nbytes)


def digest(secret: str) -> str:
    """The stored form of a secret. A plain SHA-256 suffices: the secret is uniformly random,
    so there is nothing to brute-force, and lookups by digest leak nothing about the secret."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def matches(secret: str, stored_digest: str) -> bool:
    """Whether `secret` hashes to `stored_digest`, compared in constant time."""
    return hmac.compare_digest(digest(secret), stored_digest)
