"""The server master key, under which every container key and other stored secret is kept
wrapped (AES-256-GCM, NIST SP 800-38D). The database alone never yields a container key;
destroying a wrapped copy destroys the key (crypto-shred).

The master key is a ring of numbered keys, one file each in `keys/` (mode 0600): key 1 is
`master.key`, key N after it `master.N.key`. New secrets are wrapped under the newest; a blob
names its key in a header (`MAGIC || key id`), except blobs from before rotation existed,
which carry none and are key 1's. `tabard keys rotate master` adds a key, rewraps every secret
under it and then deletes the older files (docs/operations.md, The master key). The files are
looked at again whenever a secret is wrapped, so every worker of a running server wraps under
a new key from the moment its file exists, without a restart.

Purpose keys (`derive`) come from the derivation root: key 1's bytes, kept after key 1 is
retired in `master.root`, wrapped under the newest key. Rotation therefore never changes a
derived key; see docs/operations.md for what that does and does not protect."""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import struct
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from mdm_server.crypto.keystore import KeyStore, KeyStoreError, check_private, write_private_file

KEY_FILE = "master.key"  # key 1
ROOT_FILE = "master.root"
KEY_BYTES = 32
NONCE_BYTES = 12
MAGIC = b"\xf0TK"  # then the key id, 4 bytes big-endian
HEADER = struct.Struct(">3sI")
FIRST_KEY_ID = 1
ROOT_BINDING = b"tabard master key derivation root"
_NUMBERED = re.compile(r"^master\.([1-9][0-9]{0,8})\.key$")


class UnwrapError(RuntimeError):
    """A wrapped key failed authentication: wrong master key, or altered in storage."""


def key_file_name(key_id: int) -> str:
    """The file in `keys/` that holds master key `key_id`."""
    return KEY_FILE if key_id == FIRST_KEY_ID else f"master.{key_id}.key"


def key_files(directory: Path) -> dict[int, Path]:
    """The master key files in a keys directory, by key id."""
    found: dict[int, Path] = {}
    if not directory.is_dir():
        return found
    for path in directory.iterdir():
        if path.name == KEY_FILE:
            found[FIRST_KEY_ID] = path
        elif match := _NUMBERED.match(path.name):
            found[int(match.group(1))] = path
    return dict(sorted(found.items()))


def key_id_of(wrapped: bytes) -> int:
    """The id of the key a blob names, or key 1's for a blob without a header."""
    if len(wrapped) > HEADER.size and wrapped.startswith(MAGIC):
        return int(HEADER.unpack_from(wrapped)[1])
    return FIRST_KEY_ID


@dataclass(frozen=True)
class _Loaded:
    aead: AESGCM
    digest: str  # SHA-256 of the file as read, to notice it replaced


class MasterKey:
    """Wraps and unwraps secrets bound, by associated data, to what they belong to."""

    def __init__(self, keys: dict[int, bytes], *, directory: Path | None = None) -> None:
        if not keys:
            raise KeyStoreError("no master key")
        self._directory = directory
        self._lock = threading.Lock()
        self._keys: dict[int, _Loaded] = {}
        for key_id, key in keys.items():
            self._add(key_id, key)
        self._root = keys.get(FIRST_KEY_ID)
        if self._root is None:
            self._root = self._read_root()

    @classmethod
    def load_or_create(cls, keys: KeyStore) -> MasterKey:
        """The ring in `keys/`, creating key 1 on first start (when there is no key at all)."""
        if not key_files(keys.directory):
            with keys.creation_lock():
                if not key_files(keys.directory):
                    write_private_file(keys.path(KEY_FILE), secrets.token_bytes(KEY_BYTES))
        return cls.load(keys.directory)

    @classmethod
    def load(cls, directory: Path) -> MasterKey:
        """The ring in `directory`; KeyStoreError when it holds no master key."""
        files = key_files(directory)
        if not files:
            raise KeyStoreError(f"{directory} holds no master key ({KEY_FILE} or master.N.key)")
        return cls({key_id: _read(path) for key_id, path in files.items()}, directory=directory)

    def _add(self, key_id: int, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise KeyStoreError(f"master key {key_id} must be {KEY_BYTES} bytes")
        self._keys[key_id] = _Loaded(AESGCM(key), hashlib.sha256(key).hexdigest())

    def _read_root(self) -> bytes:
        if self._directory is None or not (self._directory / ROOT_FILE).is_file():
            raise KeyStoreError(
                f"{KEY_FILE} is gone and {ROOT_FILE} is missing: restore the keys directory "
                "from the backup taken before the rotation"
            )
        path = self._directory / ROOT_FILE
        try:
            return self.unwrap(_read(path), bound_to=ROOT_BINDING)
        except UnwrapError:
            raise KeyStoreError(
                f"{path} opens under none of the master keys in {self._directory}: restore the "
                "keys directory from the backup taken before the rotation"
            ) from None

    @property
    def key_ids(self) -> list[int]:
        """The keys held, oldest first."""
        with self._lock:
            return sorted(self._keys)

    @property
    def current_id(self) -> int:
        """The key new secrets are wrapped under: the newest."""
        with self._lock:
            return max(self._keys)

    def refresh(self) -> None:
        """Take up key files added since loading (a rotation began), and let go of older keys
        whose files are gone while a newer one's is present (a rotation retired them)."""
        if self._directory is None:
            return
        files = key_files(self._directory)
        with self._lock:
            for key_id, path in files.items():
                if key_id not in self._keys:
                    try:
                        self._add(key_id, _read(path))
                    except (OSError, KeyStoreError):
                        continue  # problems() says why
            if files:
                newest = max(files)
                for key_id in [k for k in self._keys if k not in files and k < newest]:
                    del self._keys[key_id]

    def wrap(self, secret: bytes, *, bound_to: bytes, key_id: int | None = None) -> bytes:
        """`MAGIC || key id || nonce || ciphertext || tag` under the newest key (or `key_id`);
        only `unwrap` with the same `bound_to` opens it. Call it inside the write unit of work
        that stores the result: a rotation waits for the transactions older than its new key,
        and a secret wrapped before its transaction began escapes that wait."""
        if key_id is None:
            self.refresh()
            key_id = self.current_id
        loaded = self._keys.get(key_id)
        if loaded is None:
            raise KeyStoreError(f"master key {key_id} is not held here")
        header = HEADER.pack(MAGIC, key_id)
        nonce = os.urandom(NONCE_BYTES)
        return header + nonce + loaded.aead.encrypt(nonce, secret, header + bound_to)

    def unwrap(self, wrapped: bytes, *, bound_to: bytes) -> bytes:
        return self.open(wrapped, bound_to=bound_to)[1]

    def open(self, wrapped: bytes, *, bound_to: bytes) -> tuple[int, bytes]:
        """The id of the key that opened `wrapped`, and the secret."""
        key_id = key_id_of(wrapped)
        if key_id not in self._keys:
            self.refresh()
        if wrapped.startswith(MAGIC) and key_id in self._keys:
            header, rest = wrapped[: HEADER.size], wrapped[HEADER.size :]
            try:
                return key_id, self._decrypt(key_id, rest, header + bound_to)
            except UnwrapError:
                pass  # a key-1 blob whose nonce happens to begin like a header
        if FIRST_KEY_ID in self._keys:
            try:
                return FIRST_KEY_ID, self._decrypt(FIRST_KEY_ID, wrapped, bound_to)
            except UnwrapError:
                pass
        if key_id not in self._keys:
            raise UnwrapError(f"a secret is wrapped under master key {key_id}, not held here")
        raise UnwrapError("a wrapped key failed authentication")

    def _decrypt(self, key_id: int, body: bytes, associated: bytes) -> bytes:
        loaded = self._keys.get(key_id)
        if loaded is None:  # retired meanwhile
            raise UnwrapError(f"a secret is wrapped under master key {key_id}, not held here")
        try:
            return loaded.aead.decrypt(body[:NONCE_BYTES], body[NONCE_BYTES:], associated)
        except (InvalidTag, ValueError):
            raise UnwrapError("a wrapped key failed authentication") from None

    def wrapped_root(self, key_id: int) -> bytes:
        """The derivation root wrapped under `key_id`, for `master.root`."""
        assert self._root is not None
        return self.wrap(self._root, bound_to=ROOT_BINDING, key_id=key_id)

    def derive(self, purpose: bytes) -> bytes:
        """A 32-byte key for one purpose (HKDF-SHA256, RFC 5869), so that a key used for
        something else never needs a file of its own and is never the master key itself."""
        assert self._root is not None
        return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=purpose).derive(
            self._root
        )

    def problems(self) -> list[str]:
        """What is wrong now with the master key files: the newest missing, or one replaced
        since it was read (the server still holds the old), or opened to others. Older files
        gone are keys a rotation retired. Names files, never their contents."""
        if self._directory is None:
            return []
        self.refresh()
        files = key_files(self._directory)
        found = []
        with self._lock:
            held = sorted(self._keys.items())
        for key_id, loaded in held:
            path = self._directory / key_file_name(key_id)
            if key_id not in files:
                found.append(f"{path} is missing")
                continue
            try:
                current = hashlib.sha256(_read(path)).hexdigest()
            except (OSError, KeyStoreError) as exc:
                found.append(str(exc))
            else:
                if current != loaded.digest:
                    found.append(f"{path} changed since the server loaded it; restart it")
        return found

    def __repr__(self) -> str:
        return f"MasterKey(ids={self.key_ids}, <hidden>)"


def _read(path: Path) -> bytes:
    check_private(path)
    return path.read_bytes()
