"""Changes of the checkpoint key (docs/audit.md, "When the checkpoint key changes").

`tabard keys rotate checkpoint` records the change in the log itself, as an audit event of its
own, `audit.checkpoint_key_changed`, carrying a signed note:

    tabard audit checkpoint key
    <origin>
    from <old verifier key>
    to <new verifier key>
    after <size> <base64 root>

signed first by the old key (the log's authority) and then by the new one (proof that whoever
announced it holds it); `after` is the last checkpoint the old key signed before the change.
Key-change records are never deleted by retention. Reading them in order gives the chain of keys
the log has been signed with; a note (a checkpoint, a retention record, a bundle's seal) is
genuine if a key of that chain signed it, and whoever pinned an older key (a witness, a
bundle's recipient) follows the chain to the key in use, each link signed by the key before."""

from __future__ import annotations

import dataclasses
import hmac
import json
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import select
from sqlmodel import Session, col

from mdm_server.audit.models import AuditEvent, AuditIndex
from mdm_server.audit.notes import Checkpoint, NoteError, NoteVerifier, parse_checkpoint

ACTION = "audit.checkpoint_key_changed"
HEADER = "tabard audit checkpoint key"


def body(origin: str, *, old: str, new: str, after_size: int, after_root: str) -> str:
    """The text a key change's note signs."""
    return f"{HEADER}\n{origin}\nfrom {old}\nto {new}\nafter {after_size} {after_root}\n"


@dataclass(frozen=True)
class KeyChange:
    """One link: `old` handed the log over to `new`, as `note` (signed by both) says."""

    seq: int | None  # where the log records it, when known
    old: NoteVerifier
    new: NoteVerifier
    old_key: str
    new_key: str
    note: str


def read(note: str) -> KeyChange:
    """The key change a note announces, if both keys it names signed it; NoteError otherwise."""
    lines = note.split("\n\n", 1)[0].split("\n")
    if len(lines) != 5 or lines[0] != HEADER:
        raise NoteError(f"a key change's note starts '{HEADER}' and has five lines")
    _, origin, old_line, new_line, _after = lines
    if not old_line.startswith("from ") or not new_line.startswith("to "):
        raise NoteError("a key change's note names the key it is from, then the key it is to")
    old_key, new_key = old_line[len("from ") :], new_line[len("to ") :]
    old, new = NoteVerifier.parse(old_key), NoteVerifier.parse(new_key)
    if old.name != origin or new.name != origin:
        raise NoteError(f"a key change of log '{origin}' names keys of another log")
    if old_key == new_key:
        raise NoteError("a key change hands the log over to the same key")
    old.verify(note)  # the log's key at the time says so ...
    new.verify(note)  # ... and the new key's holder signed too
    return KeyChange(None, old, new, old_key, new_key, note)


def recorded_events(session: Session) -> list[tuple[int, str]]:
    """The key-change records in the log, in order: (seq, canonical text, the leaf's bytes)."""
    rows = session.execute(
        select(col(AuditEvent.seq), col(AuditEvent.canonical))
        .join(AuditIndex, col(AuditIndex.seq) == col(AuditEvent.seq))
        .where(col(AuditIndex.action) == ACTION)
        .order_by(col(AuditEvent.seq))
    ).all()
    return [(int(seq), str(canonical)) for seq, canonical in rows]


def recorded(session: Session) -> list[tuple[int, dict[str, Any]]]:
    """The key-change records in the log, in order: (seq, detail)."""
    return [
        (seq, json.loads(canonical).get("detail") or {})
        for seq, canonical in recorded_events(session)
    ]


@dataclass(frozen=True)
class KeyChain:
    """The keys the log has been signed with, oldest first; the last is the key in use. Checks
    notes as a NoteVerifier does, accepting a signature by any key of the chain."""

    keys: tuple[NoteVerifier, ...]
    changes: tuple[KeyChange, ...] = ()
    problems: tuple[tuple[int, str], ...] = ()  # (seq, what is wrong) of records that fail

    @property
    def name(self) -> str:
        return self.keys[-1].name

    def verify(self, note: str) -> str:
        failures = []
        for key in reversed(self.keys):
            try:
                return key.verify(note)
            except NoteError as exc:
                failures.append(str(exc))
        bad = [failure for failure in failures if "does not verify" in failure]
        raise NoteError(bad[0] if bad else failures[0])

    def open(self, note: str, *, origin: str | None = None) -> Checkpoint:
        checkpoint = parse_checkpoint(self.verify(note))
        if origin is not None and checkpoint.origin != origin:
            raise NoteError(f"the checkpoint is for '{checkpoint.origin}', not '{origin}'")
        return checkpoint


def chain(session: Session, current: NoteVerifier) -> KeyChain:
    """The chain of keys the log's key-change records give, ending at `current` (the key in
    the data directory). A record that does not verify, or does not follow from the key before
    it, is a problem and breaks the chain there."""
    links: list[KeyChange] = []
    problems: list[tuple[int, str]] = []
    for seq, detail in recorded(session):
        try:
            change = read(str(detail.get("note", "")))
        except NoteError as exc:
            problems.append((seq, f"key-change record {seq}: {exc}"))
            continue
        if (detail.get("from"), detail.get("to")) != (change.old_key, change.new_key):
            problems.append((seq, f"key-change record {seq}: its note and detail differ"))
            continue
        if links and not hmac.compare_digest(links[-1].new_key, change.old_key):
            problems.append(
                (seq, f"key-change record {seq}: it hands over from a key the log never had")
            )
            continue
        links.append(dataclasses.replace(change, seq=seq))
    keys = [links[0].old, *(link.new for link in links)] if links else [current]
    if not _same(keys[-1], current):
        last = links[-1].seq or 0
        problems.append(
            (
                last,
                f"key-change record {last} hands the log over to a key other than the data "
                "directory's checkpoint key (keys/audit-checkpoint.key)",
            )
        )
        keys.append(current)
    return KeyChain(tuple(keys), tuple(links), tuple(problems))


def follow(pinned: str, notes: list[str], *, to: str | None = None) -> list[KeyChange]:
    """The links from the `pinned` verifier key onwards, each signed by the key before: as
    far as `notes` (key changes' notes, in any order) go, or to the key `to`. NoteError if
    `to` cannot be reached, or a note that claims to follow from a reached key is forged."""
    by_old: dict[str, KeyChange] = {}
    for note in notes:
        change = read(note)
        by_old.setdefault(change.old_key, change)
    links: list[KeyChange] = []
    key = pinned.strip()
    while key in by_old and (to is None or key != to.strip()):
        link = by_old.pop(key)
        links.append(link)
        key = link.new_key
    if to is not None and key != to.strip():
        raise NoteError(f"no chain of key changes leads from {pinned.strip()} to {to.strip()}")
    return links


def _same(one: NoteVerifier, other: NoteVerifier) -> bool:
    raw = Encoding.Raw, PublicFormat.Raw
    return (one.name, one.key_id, one.public.public_bytes(*raw)) == (
        other.name,
        other.key_id,
        other.public.public_bytes(*raw),
    )
