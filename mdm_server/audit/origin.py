"""The name the audit log signs its checkpoints under (its origin), as the log itself shows it.

The server derives its origin from its settings (`TABARD_AUDIT_ORIGIN`, else the public URL's
host and path then `/audit`). A command run on the server host need not have the server's
environment: without `TABARD_PUBLIC_URL` it would derive `127.0.0.1:8000/audit`, and no
checkpoint would verify. So host commands read the origin off the log: the newest checkpoint
(published in the data directory, else stored in the database) carries a signature line naming
the key; the name counts only if the data directory's own key, under that name, verifies the
note, or a key it took over from through the log's key-change records (a rotation that stopped
before its first checkpoint with the new key). A name from the notes is never trusted without
that signature."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import Session

from mdm_server.audit import checkpoints, handover, repository
from mdm_server.audit.notes import NoteError, NoteSigner, signer_names


@dataclass(frozen=True)
class LogOrigin:
    """What the log's newest notes say about its origin."""

    signed: str | None  # the name this key signed them under, if any verifies
    named: tuple[str, ...]  # every name on their signature lines, verified or not
    notes: int  # how many notes were read (the published one, the newest stored)


def _newest_notes(session: Session, data_dir: Path) -> list[str]:
    notes = []
    with contextlib.suppress(OSError, UnicodeDecodeError):  # none published yet
        notes.append((data_dir / checkpoints.PUBLISHED).read_text(encoding="utf-8"))
    latest = repository.latest_checkpoint(session)
    if latest is not None:
        notes.append(latest.note)
    return notes


def find(session: Session, *, data_dir: Path, signer: NoteSigner) -> LogOrigin:
    """The origin under which `signer`'s key signed the log's newest checkpoint."""
    named: list[str] = []
    notes = _newest_notes(session, data_dir)
    for note in notes:
        for name in signer_names(note):
            if name in named:
                continue
            named.append(name)
            keys = handover.chain(session, signer.named(name).verifier())
            try:
                (keys if not keys.problems else keys.keys[-1]).verify(note)
            except NoteError:
                continue
            return LogOrigin(signed=name, named=tuple(named), notes=len(notes))
    return LogOrigin(signed=None, named=tuple(named), notes=len(notes))


def log_signer(
    session: Session, *, data_dir: Path, signer: NoteSigner, configured: str | None
) -> tuple[NoteSigner, LogOrigin]:
    """The signer to check and extend this log with: under `configured` (TABARD_AUDIT_ORIGIN)
    when it is set, else the origin the log was signed under, else `signer`'s own (a log with
    no checkpoint yet has nothing to contradict it)."""
    found = find(session, data_dir=data_dir, signer=signer)
    if configured is not None:
        return signer.named(configured), found
    if found.signed is not None:
        return signer.named(found.signed), found
    return signer, found


def hint(used: str, found: LogOrigin) -> str | None:
    """What to check or set, when the log's checkpoints do not verify under the origin `used`."""
    if found.signed is not None and found.signed != used:
        return (
            f"the log's checkpoints are signed as {found.signed}, not {used}: set "
            f"TABARD_AUDIT_ORIGIN={found.signed}, or leave it unset to use the log's own"
        )
    if found.signed is None and found.named:
        return (
            f"the log's checkpoints are signed as {', '.join(found.named)}, but not by this data "
            "directory's checkpoint key (keys/audit-checkpoint.key): check that TABARD_DATA_DIR "
            "names the server's data directory; if it does, the key or the checkpoints were "
            "replaced"
        )
    if found.signed is None and found.notes:
        return (
            "the log's origin cannot be read from its checkpoints: set TABARD_AUDIT_ORIGIN, "
            "or TABARD_PUBLIC_URL, as the server has it"
        )
    return None
