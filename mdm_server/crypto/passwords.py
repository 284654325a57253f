"""Passwords and PINs, hashed with Argon2id (RFC 9106)."""

from __future__ import annotations

import secrets
import string

from argon2 import PasswordHasher as _Argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from mdm_server.config import Settings

_ALPHABET = string.ascii_letters + string.digits


class PasswordHasher:
    """Argon2id with the cost parameters from settings (defaults: RFC 9106's second
    recommended option, t=3, m=64 MiB, p=4)."""

    def __init__(self, settings: Settings) -> None:
        self._argon2 = _Argon2(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
        )
        # A hash of nothing, verified against when a username is unknown, so that the refusal
        # takes as long as for a known user with a wrong password.
        self._decoy = self._argon2.hash(secrets.token_hex(16))

    def hash(self, password: str) -> str:
        return self._argon2.hash(password)

    def verify(self, stored_hash: str | None, password: str) -> bool:
        """Whether `password` matches; an absent hash burns the same time and says no."""
        try:
            return self._argon2.verify(stored_hash or self._decoy, password) and bool(stored_hash)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        return self._argon2.check_needs_rehash(stored_hash)


def one_time_password(length: int = 20) -> str:
    """A random password to hand over once; the holder must change it at first login."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))
