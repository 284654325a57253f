"""Signing checkpoints of the audit tree, and never one that contradicts an earlier one.

Before signing size n, the tree's root at the last checkpoint's size is recomputed from the
stored nodes and compared with what was signed; the newest note is also published to a file in
the data directory (`audit/checkpoint`), outside the database, so restoring an old database
snapshot cannot quietly rewind the log: the next checkpoint refuses, and `tabard audit verify`
names the first missing event."""

from __future__ import annotations

import base64
import hmac
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlmodel import Session

from mdm_server.audit import handover, repository, tree
from mdm_server.audit.merkle import ProofError
from mdm_server.audit.models import AuditCheckpoint
from mdm_server.audit.notes import Checkpoint, NoteError, NoteOpener, NoteSigner
from mdm_server.audit.service import Actor, record
from mdm_server.config import Settings
from mdm_server.crypto.keystore import KeyStore, KeyStoreError
from mdm_server.db import Database, after_commit
from mdm_server.errors import TabardError

KEY_FILE = "audit-checkpoint.key"
NEXT_KEY_FILE = "audit-checkpoint.next.key"  # the key a rotation under way hands over to
PUBLISHED = Path("audit") / "checkpoint"


class LogContradictionError(TabardError):
    """The stored log no longer agrees with a checkpoint already signed: it was altered."""

    status = 409
    code = "audit_log_altered"


def origin(settings: Settings) -> str:
    """The log's name in its checkpoints: the server's host and path, then `/audit`."""
    if settings.audit_origin:
        return settings.audit_origin
    parts = urlsplit(settings.public_url)
    return f"{parts.netloc}{parts.path}/audit"


def load_signer(keys: KeyStore, settings: Settings) -> NoteSigner:
    key = keys.private_key(KEY_FILE, ed25519.Ed25519PrivateKey.generate)
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise KeyStoreError(f"{keys.path(KEY_FILE)} is not an Ed25519 key")
    return NoteSigner(origin(settings), key)


@dataclass(frozen=True)
class Made:
    checkpoint: AuditCheckpoint
    new: bool


def published(data_dir: Path, verifier: NoteOpener) -> Checkpoint | None:
    """The newest checkpoint published to the data directory, if any (and if it verifies)."""
    path = data_dir / PUBLISHED
    try:
        note = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        return verifier.open(note)
    except NoteError as exc:
        raise LogContradictionError(f"{path} does not verify: {exc}") from None


def _publish(data_dir: Path, note: str, size: int, verifier: NoteOpener) -> None:
    path = data_dir / PUBLISHED
    path.parent.mkdir(parents=True, exist_ok=True)
    current = published(data_dir, verifier)
    if current is not None and current.size >= size:
        return  # another worker published a newer one
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(note)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _agrees(session: Session, size: int, root: bytes, what: str, current: int) -> None:
    if size > current:
        raise LogContradictionError(
            f"{what} covers {size} events but the log holds {current}: events "
            f"{current + 1} to {size} are missing; run `tabard audit verify`"
        )
    try:
        recomputed = tree.root(session, size)
    except ProofError as exc:
        raise LogContradictionError(
            f"the stored tree cannot give {what}'s root ({exc}); run `tabard audit verify`"
        ) from None
    if not hmac.compare_digest(recomputed, root):
        raise LogContradictionError(
            f"the log's first {size} events no longer hash to {what}'s root; "
            "run `tabard audit verify`"
        )


def make(session: Session, *, signer: NoteSigner, data_dir: Path, now: datetime) -> Made:
    """Sign a checkpoint of the whole log, unless the latest already covers it."""
    size = tree.size(session)
    latest = repository.latest_checkpoint(session)
    if latest is not None:
        _agrees(session, latest.size, latest.root, f"checkpoint {latest.size}", size)
    keys = handover.chain(session, signer.verifier())
    outside = published(data_dir, keys)
    if outside is not None:
        _agrees(session, outside.size, outside.root, f"published checkpoint {outside.size}", size)
    if latest is not None and latest.size == size:
        return Made(latest, new=False)
    root = tree.root(session, size)
    note = signer.sign(Checkpoint(signer.name, size, root))
    made = AuditCheckpoint(size=size, root=root, note=note, created_at=now)
    if not repository.add_checkpoint(session, made):
        existing = repository.checkpoint_at(session, size)
        assert existing is not None
        return Made(existing, new=False)
    after_commit(session, lambda: _publish(data_dir, note, size, keys))
    return Made(made, new=True)


def due(session: Session, *, now: datetime, every_s: int, every_events: int) -> bool:
    """Whether the scheduler should sign one now: events waiting, and enough of them or for
    long enough."""
    size = tree.size(session)
    latest = repository.latest_checkpoint(session)
    if latest is None:
        return size > 0
    waiting = size - latest.size
    return waiting > 0 and (
        waiting >= every_events or (now - latest.created_at).total_seconds() >= every_s
    )


@dataclass(frozen=True)
class Rotated:
    old_key: str
    new_key: str
    seq: int  # the key-change record's sequence number
    checkpoint: AuditCheckpoint  # the first checkpoint the new key signed


ROTATION = Actor.system("key rotation")


def rotate_key(
    database: Database, *, keys: KeyStore, signer: NoteSigner, data_dir: Path, now: datetime
) -> Rotated:
    """Hand the log over from `signer`'s key (the data directory's) to a new one: record the
    change, signed by both keys, in the log; put the new key in the old one's place, so every
    worker of the running server signs with it from its next checkpoint; and sign the first
    checkpoint with it. Run again after an interruption, it carries on with the same new key."""
    staging = KeyStore(keys.directory)  # the new key's file goes, so `keys` never loads it
    new_key = staging.private_key(NEXT_KEY_FILE, ed25519.Ed25519PrivateKey.generate)
    if not isinstance(new_key, ed25519.Ed25519PrivateKey):
        raise KeyStoreError(f"{keys.path(NEXT_KEY_FILE)} is not an Ed25519 key")
    successor = NoteSigner(signer.name, new_key)
    with database.unit_of_work() as session:
        seq = _recorded_change(session, successor.verifier_key())
        if seq is None:
            last = make(session, signer=signer, data_dir=data_dir, now=now).checkpoint
            root = base64.b64encode(last.root).decode("ascii")
            text = handover.body(
                signer.name,
                old=signer.verifier_key(),
                new=successor.verifier_key(),
                after_size=last.size,
                after_root=root,
            )
            record(
                session,
                actor=ROTATION,
                action=handover.ACTION,
                now=now,
                detail={
                    "from": signer.verifier_key(),
                    "to": successor.verifier_key(),
                    "after": last.size,
                    "note": successor.cosign(signer.sign_text(text)),
                },
            )
    if seq is None:
        with database.unit_of_work(write=False) as session:
            seq = _recorded_change(session, successor.verifier_key())
        assert seq is not None, "the key change was recorded"
    old_key = signer.verifier_key()
    _replace(keys, NEXT_KEY_FILE, KEY_FILE)  # the old key is gone from here on
    keys.private_key(KEY_FILE, ed25519.Ed25519PrivateKey.generate)  # as loaded now
    with database.unit_of_work() as session:
        first = make(session, signer=successor, data_dir=data_dir, now=now).checkpoint
    return Rotated(old_key, successor.verifier_key(), seq, first)


def _recorded_change(session: Session, new_key: str) -> int | None:
    for seq, detail in handover.recorded(session):
        if detail.get("to") == new_key:
            return seq
    return None


def _replace(keys: KeyStore, source: str, target: str) -> None:
    os.replace(keys.path(source), keys.path(target))
    fd = os.open(keys.directory, os.O_RDONLY)
    try:
        os.fsync(fd)  # the rename itself reaches the disk
    finally:
        os.close(fd)
