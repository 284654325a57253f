"""Rotating the server master key on a running system (docs/operations.md, The master key).

A rotation adds master key N+1 beside the keys in use, rewrites the derivation root under it,
waits until every transaction begun before the new key existed has ended (those may have
wrapped a secret under the old key), then rewraps every stored secret under the new key in
batches, each its own transaction, and finally deletes the older key files. The key files are
its only state: two or more of them mean a rotation is under way, and running it again carries
on from the start of the tables, leaving alone what is already under the new key. Nothing is
wrapped under a key after the moment its successor's file exists, so nothing is lost when the
older file goes."""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from mdm_server.audit.service import Actor, record
from mdm_server.crypto.keystore import KeyStoreError, write_private_file
from mdm_server.crypto.master import (
    KEY_BYTES,
    ROOT_BINDING,
    ROOT_FILE,
    MasterKey,
    UnwrapError,
    key_file_name,
    key_files,
    key_id_of,
)
from mdm_server.db import Database
from mdm_server.ops import repository
from mdm_server.ops.repository import WRAPPED, WrappedSecrets

ACTOR = Actor.system("tabard keys rotate master")
FENCE_TIMEOUT_S = 120.0
FENCE_POLL_S = 0.05


class RotationError(Exception):
    """Why the rotation stopped, and what to do. Never holds a key."""


@dataclass(frozen=True)
class Status:
    """Where the master key stands: the key files present, and the secrets under each."""

    key_ids: list[int]
    secrets: dict[int, int]  # key id -> secrets wrapped under it

    @property
    def current(self) -> int:
        return max(self.key_ids)

    @property
    def in_progress(self) -> bool:
        return len(self.key_ids) > 1

    @property
    def remaining(self) -> int:
        """Secrets not yet under the newest key."""
        return sum(n for key_id, n in self.secrets.items() if key_id != self.current)


@dataclass
class Outcome:
    """What one run of the rotation did."""

    new_key: int
    resumed: bool
    rewrapped: int = 0
    batches: int = 0
    finished: bool = False
    retired: list[int] = field(default_factory=list)


@contextlib.contextmanager
def _exclusive(directory: Path) -> Iterator[None]:
    fd = os.open(directory / ".rotation.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RotationError("another key rotation is running on this host") from None
        yield
    finally:
        os.close(fd)


def status(database: Database, directory: Path) -> Status:
    """The key files and how many secrets each key holds (read from the blobs' headers)."""
    ids = list(key_files(directory))
    if not ids:
        raise RotationError(f"{directory} holds no master key: is TABARD_DATA_DIR the server's?")
    counts: dict[int, int] = dict.fromkeys(ids, 0)
    with database.unit_of_work(write=False) as session:
        for kind in WRAPPED:
            for row in _all_rows(session, kind):
                key_id = key_id_of(getattr(row, kind.column))
                counts[key_id] = counts.get(key_id, 0) + 1
    return Status(key_ids=ids, secrets=counts)


def _all_rows(session: Any, kind: WrappedSecrets, batch: int = 1000) -> Iterator[Any]:
    after = None
    while rows := repository.wrapped_batch(
        session, kind, after=after, limit=batch, for_update=False
    ):
        yield from rows
        after = getattr(rows[-1], kind.key)


def total_secrets(database: Database) -> int:
    """Every stored secret wrapped under the master key, for a progress bar."""
    with database.unit_of_work(write=False) as session:
        return sum(repository.count_wrapped(session, kind) for kind in WRAPPED)


def rotate(
    database: Database,
    directory: Path,
    *,
    batch: int,
    now: Callable[[], datetime],
    max_batches: int | None = None,
    advance: Callable[[int], None] = lambda _: None,
    waiting: Callable[[], None] = lambda: None,
) -> Outcome:
    """Start a rotation, or carry on with the one under way, and finish it unless
    `max_batches` batches are done first. `advance` hears how many secrets each batch saw;
    `waiting`, each time it waits for transactions older than the new key."""
    if not key_files(directory):
        raise RotationError(f"{directory} holds no master key: is TABARD_DATA_DIR the server's?")
    with _exclusive(directory):
        files = key_files(directory)
        resumed = len(files) > 1
        if not resumed:
            new_id = max(files) + 1
            write_private_file(directory / key_file_name(new_id), secrets.token_bytes(KEY_BYTES))
        try:
            ring = MasterKey.load(directory)
        except (KeyStoreError, UnwrapError) as exc:
            raise RotationError(f"cannot load the master keys: {exc}") from None
        outcome = Outcome(new_key=ring.current_id, resumed=resumed)
        _write_root(ring, directory)
        _fence(database, waiting)
        if not resumed:
            with database.unit_of_work() as session:
                record(
                    session,
                    actor=ACTOR,
                    action="keys.master_rotation_started",
                    now=now(),
                    detail={"from_key": max(files), "to_key": outcome.new_key},
                )
        for kind in WRAPPED:
            if not _sweep(database, ring, kind, batch, outcome, max_batches, advance):
                return outcome
        outcome.retired = _retire(ring, directory)
        outcome.finished = True
        with database.unit_of_work() as session:
            record(
                session,
                actor=ACTOR,
                action="keys.master_rotated",
                now=now(),
                detail={"to_key": outcome.new_key, "retired_keys": outcome.retired},
            )
        return outcome


def _write_root(ring: MasterKey, directory: Path) -> None:
    """`master.root` under the newest key, replaced atomically (0600)."""
    path = directory / ROOT_FILE
    if path.is_file() and key_id_of(path.read_bytes()) == ring.current_id:
        return
    wrapped = ring.wrapped_root(ring.current_id)
    partial = directory / f".{ROOT_FILE}.{os.getpid()}.tmp"
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(wrapped)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, path)
    _sync_directory(directory)


def _fence(database: Database, waiting: Callable[[], None]) -> None:
    """Wait until every transaction that began before the new key's file existed has ended:
    a request in one of them may have wrapped a secret under the old key and not committed
    it yet. On SQLite every writer holds the write lock for its whole transaction, so taking
    it once is enough; on PostgreSQL, watch the other sessions' transaction start times."""
    if database.dialect != "postgresql":
        waiting()
        with database.unit_of_work():
            return
    with database.unit_of_work(write=False) as session:
        since = repository.database_now(session)
    deadline = time.monotonic() + FENCE_TIMEOUT_S
    while True:
        with database.unit_of_work(write=False) as session:
            oldest = repository.oldest_other_transaction(session)
        if oldest is None or oldest > since:
            return
        waiting()
        if time.monotonic() > deadline:
            raise RotationError(
                "a database transaction begun before the new key existed is still open after "
                f"{FENCE_TIMEOUT_S:.0f} s (see pg_stat_activity); run the command again"
            )
        time.sleep(FENCE_POLL_S)  # polling another process's state: there is no event


def _sweep(
    database: Database,
    ring: MasterKey,
    kind: WrappedSecrets,
    batch: int,
    outcome: Outcome,
    max_batches: int | None,
    advance: Callable[[int], None],
) -> bool:
    """Rewrap this column's secrets under the newest key; False if stopped at max_batches."""
    after = None
    while True:
        if max_batches is not None and outcome.batches >= max_batches:
            return False
        with database.unit_of_work() as session:
            rows = repository.wrapped_batch(session, kind, after=after, limit=batch)
            for row in rows:
                outcome.rewrapped += _rewrap(session, ring, kind, row)
        if not rows:
            return True
        after = getattr(rows[-1], kind.key)
        outcome.batches += 1
        advance(len(rows))


def _rewrap(session: Any, ring: MasterKey, kind: WrappedSecrets, row: Any) -> int:
    bound = kind.bound_to(row)
    try:
        key_id, secret = ring.open(getattr(row, kind.column), bound_to=bound)
    except UnwrapError:
        raise RotationError(
            f"one of the {kind.name} ({kind.key} {getattr(row, kind.key)}) opens under no "
            "master key held here; nothing was retired. Restore the keys directory from the "
            "backup taken before the rotation, or remove that secret, then run the command again"
        ) from None
    if key_id == ring.current_id:
        return 0
    setattr(row, kind.column, ring.wrap(secret, bound_to=bound, key_id=ring.current_id))
    session.add(row)
    return 1


def _retire(ring: MasterKey, directory: Path) -> list[int]:
    """Delete every key file older than the newest (the backup taken before holds them)."""
    root = (directory / ROOT_FILE).read_bytes()
    if key_id_of(root) != ring.current_id:
        raise RotationError(f"{ROOT_FILE} is not under the new key; run the command again")
    ring.unwrap(root, bound_to=ROOT_BINDING)  # opens: the derived keys survive
    retired = [key_id for key_id in key_files(directory) if key_id != ring.current_id]
    for key_id in retired:
        (directory / key_file_name(key_id)).unlink()
    _sync_directory(directory)
    return retired


def _sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
