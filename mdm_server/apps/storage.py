"""Where APKs are kept: outside the database, by the SHA-256 of their bytes (DESIGN.md,
"Storage, keys and scale").

`ApkStore` is the interface the rest of the server uses. `FilesystemApkStore`, the default,
keeps each APK at `DATA_DIR/apks/ab/abcdef....apk`. An S3-compatible store is the obvious
second: a class with the same eight methods, chosen in `open_store` by `TABARD_APK_STORE`.
Content addressing makes a store idempotent: the same bytes stored twice are kept once."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Protocol

from mdm_server.config import Settings
from mdm_server.errors import PayloadTooLargeError

DIGEST = re.compile(r"^[0-9a-f]{64}$")
CHUNK = 1 << 16
FILE_MODE = 0o600
DIR_MODE = 0o700


class ApkTooLargeError(PayloadTooLargeError):
    code = "apk_too_large"


@dataclass(frozen=True)
class StoredBlob:
    """What `put` stored: its SHA-256 (hex), its size, and whether these bytes are new to the
    store (so a refused upload removes only what it added)."""

    sha256: str
    size: int
    new: bool


class ApkStore(Protocol):
    """APK bytes by their SHA-256 (64 lowercase hex digits)."""

    def put(self, chunks: Iterable[bytes], *, max_bytes: int | None = None) -> StoredBlob:
        """Store the bytes, hashing them as they arrive; `ApkTooLargeError` past `max_bytes`
        (nothing is kept). Visible under its digest only once complete."""
        ...

    def open(self, sha256: str) -> BinaryIO:
        """The stored bytes, to read; `FileNotFoundError` if none."""
        ...

    def path(self, sha256: str) -> Path:
        """A local file holding the bytes (a remote store would download to a cache)."""
        ...

    def exists(self, sha256: str) -> bool: ...

    def size(self, sha256: str) -> int: ...

    def delete(self, sha256: str) -> None:
        """Remove the bytes; nothing happens if they are not there."""
        ...

    def stored(self) -> Iterator[tuple[str, datetime]]:
        """Every stored APK's digest, and when its bytes were last stored."""
        ...

    def drop_partial(self, *, before: datetime) -> int:
        """Remove uploads left half-written (by a process stopped mid-upload) that began
        before `before`; how many."""
        ...


def check_digest(sha256: str) -> str:
    """A digest as the store names files by; anything else (a path, say) is refused."""
    if not DIGEST.fullmatch(sha256):
        raise ValueError("not a SHA-256 digest in lowercase hex")
    return sha256


class FilesystemApkStore:
    """APKs in a directory: a temporary file in the store, fsynced, then renamed to its
    content address, so a reader never sees part of an APK. Files 0600, directories 0700."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _directory(self, path: Path) -> Path:
        """A directory in the store (and the store itself), made 0700 if it is new."""
        self.root.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        path.mkdir(mode=DIR_MODE, exist_ok=True)
        return path

    def path(self, sha256: str) -> Path:
        check_digest(sha256)
        return self.root / sha256[:2] / f"{sha256}.apk"

    def put(self, chunks: Iterable[bytes], *, max_bytes: int | None = None) -> StoredBlob:
        incoming = self._directory(self.root / "incoming")
        temporary = incoming / f"{uuid.uuid4().hex}.part"
        digest = hashlib.sha256()
        size = 0
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        try:
            with os.fdopen(descriptor, "wb") as out:
                for chunk in chunks:
                    size += len(chunk)
                    if max_bytes is not None and size > max_bytes:
                        raise ApkTooLargeError(f"an APK may be at most {max_bytes} bytes")
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            sha256 = digest.hexdigest()
            final = self.path(sha256)
            self._directory(final.parent)
            if final.exists():
                os.utime(final)  # stored again now: not an orphan to sweep for a day
                return StoredBlob(sha256, size, new=False)
            os.replace(temporary, final)
            _sync_directory(final.parent)
            return StoredBlob(sha256, size, new=True)
        finally:
            temporary.unlink(missing_ok=True)

    def open(self, sha256: str) -> BinaryIO:
        return self.path(sha256).open("rb")

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def size(self, sha256: str) -> int:
        return self.path(sha256).stat().st_size

    def delete(self, sha256: str) -> None:
        self.path(sha256).unlink(missing_ok=True)

    def stored(self) -> Iterator[tuple[str, datetime]]:
        for path in self.root.glob("??/*.apk"):
            if DIGEST.match(path.stem) and path.parent.name == path.stem[:2]:
                yield path.stem, _modified(path)

    def drop_partial(self, *, before: datetime) -> int:
        dropped = 0
        for path in (self.root / "incoming").glob("*.part"):
            if _modified(path) < before:
                path.unlink(missing_ok=True)
                dropped += 1
        return dropped


def _modified(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)


def _sync_directory(path: Path) -> None:
    """Make a rename durable (POSIX: the directory entry is data of the directory)."""
    with contextlib.suppress(OSError):
        descriptor = os.open(path, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def open_store(settings: Settings) -> ApkStore:
    """The store `TABARD_APK_STORE` names (settings allow only `file` for now)."""
    if settings.apk_store == "file":
        return FilesystemApkStore(settings.data_dir / "apks")
    raise ValueError(f"unknown APK store {settings.apk_store!r}")  # the settings refuse it first
