"""Private keys in the data directory: mode 0600 files in a 0700 directory, created on first
start, never logged and never written to the database."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


class KeyStoreError(RuntimeError):
    """The key directory or a key file is missing, unreadable or too widely readable."""


def write_private_file(path: Path, data: bytes) -> bool:
    """Create `path` with mode 0600 holding `data`, atomically. False if it already exists."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        return True
    finally:
        tmp.unlink(missing_ok=True)


def check_private(path: Path) -> None:
    """Refuse a key file that anyone but its owner can read, as ssh does."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise KeyStoreError(
            f"{path} has mode {mode:04o}, readable by others; fix it with: chmod 600 {path}"
        )


class KeyStore:
    """The `keys/` directory of the data dir."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._loaded: dict[str, str] = {}  # file name -> SHA-256 of what was read
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        mode = stat.S_IMODE(directory.stat().st_mode)
        if mode & 0o022:
            raise KeyStoreError(
                f"{directory} is writable by others; fix it with: chmod 700 {directory}"
            )

    @contextlib.contextmanager
    def creation_lock(self) -> Iterator[None]:
        """Serialise key creation across processes (several workers may start at once)."""
        fd = os.open(self.directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def path(self, name: str) -> Path:
        return self.directory / name

    def read_or_create(self, name: str, create: Callable[[], bytes]) -> bytes:
        """The bytes of key file `name`, created with `create()` if it does not exist yet."""
        path = self.path(name)
        if not path.exists():
            with self.creation_lock():
                if not path.exists():
                    write_private_file(path, create())
        check_private(path)
        data = path.read_bytes()
        self._loaded[name] = hashlib.sha256(data).hexdigest()
        return data

    def problems(self) -> list[str]:
        """What is wrong now with the key files this store has loaded: missing, replaced
        since (the server still uses the old key), or opened to others. Names files, never
        their contents."""
        found = []
        for name, digest in sorted(self._loaded.items()):
            path = self.path(name)
            try:
                check_private(path)
                current = hashlib.sha256(path.read_bytes()).hexdigest()
            except FileNotFoundError:
                found.append(f"{path} is missing")
            except (OSError, KeyStoreError) as exc:
                found.append(str(exc))
            else:
                if current != digest:
                    found.append(f"{path} changed since the server loaded it; restart it")
        return found

    def private_key(self, name: str, generate: Callable[[], PrivateKey]) -> PrivateKey:
        """Load a PEM private key, generating and storing it on first use."""

        def create() -> bytes:
            return generate().private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )

        data = self.read_or_create(name, create)
        key = serialization.load_pem_private_key(data, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
            raise KeyStoreError(f"{self.path(name)} does not hold an EC or Ed25519 private key")
        return key
