"""The encrypted container: secure-side app data (drafts, cached results) as AES-256-GCM
records in `container.db`, each bound by associated data to the device, the container key and
the record's id, so a record cannot be read without the key nor moved to another id or device
unnoticed. The personal side is never touched: the container is its own file."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from device_agent.errors import AgentError

FILE = "container.db"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    nonce BLOB NOT NULL,
    ciphertext BLOB NOT NULL,
    updated_at TEXT NOT NULL
);
"""


class ContainerLockedError(AgentError):
    """The container's key is not held: the secure side is locked."""


def _connect(path: Path) -> sqlite3.Connection:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.executescript(_SCHEMA)
    return connection


def key_id_of(directory: Path) -> str | None:
    """Which container key the container on disk belongs to, if there is one."""
    path = directory / FILE
    if not path.exists():
        return None
    with closing(_connect(path)) as connection:
        row = connection.execute("SELECT value FROM meta WHERE name = 'key_id'").fetchone()
    return str(row[0]) if row else None


def destroy(directory: Path) -> bool:
    """Delete the container and its journal files; True if there was one."""
    existed = False
    for name in (FILE, f"{FILE}-wal", f"{FILE}-shm", f"{FILE}-journal"):
        path = directory / name
        if path.exists():
            path.unlink()
            existed = True
    return existed


class Container:
    """An open container. Holds the key in memory until `close()`."""

    def __init__(self, directory: Path, *, device_id: str, key_id: str, key: bytes) -> None:
        found = key_id_of(directory)
        if found is not None and found != key_id:
            raise AgentError(
                "the container on disk belongs to another key; it was shredded and must be "
                "deleted first"
            )
        self._connection: sqlite3.Connection | None = _connect(directory / FILE)
        self._connection.execute(
            "INSERT OR IGNORE INTO meta (name, value) VALUES ('key_id', ?)", (key_id,)
        )
        self._aead: AESGCM | None = AESGCM(key)
        self.device_id = device_id
        self.key_id = key_id

    def _binding(self, record_id: str) -> bytes:
        return f"tabard container record v1|{self.device_id}|{self.key_id}|{record_id}".encode()

    def _open(self) -> tuple[sqlite3.Connection, AESGCM]:
        if self._connection is None or self._aead is None:
            raise ContainerLockedError("the secure side is locked")
        return self._connection, self._aead

    def put(self, record_id: str, kind: str, data: dict[str, Any], *, now: str) -> None:
        connection, aead = self._open()
        nonce = os.urandom(12)
        plaintext = json.dumps(data, sort_keys=True).encode()
        connection.execute(
            "INSERT OR REPLACE INTO records (id, kind, nonce, ciphertext, updated_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (record_id, kind, nonce, aead.encrypt(nonce, plaintext, self._binding(record_id)), now),
        )

    def get(self, record_id: str) -> dict[str, Any] | None:
        connection, aead = self._open()
        row = connection.execute(
            "SELECT nonce, ciphertext FROM records WHERE id = ?", (record_id,)
        ).fetchone()
        if row is None:
            return None
        try:
            plaintext = aead.decrypt(row[0], row[1], self._binding(record_id))
        except InvalidTag:
            raise AgentError(f"container record {record_id} fails authentication") from None
        data = json.loads(plaintext)
        assert isinstance(data, dict)
        return data

    def records(self, kind: str | None = None) -> Iterator[tuple[str, str, str]]:
        """(id, kind, updated_at) of each record, newest first; contents stay encrypted."""
        connection, _ = self._open()
        query = "SELECT id, kind, updated_at FROM records"
        rows = (
            connection.execute(query + " WHERE kind = ? ORDER BY updated_at DESC", (kind,))
            if kind
            else connection.execute(query + " ORDER BY updated_at DESC")
        )
        yield from ((str(a), str(b), str(c)) for a, b, c in rows)

    def close(self) -> None:
        """Lock: drop the key and the connection."""
        self._aead = None
        if self._connection is not None:
            self._connection.close()
            self._connection = None
