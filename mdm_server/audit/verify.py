"""`tabard audit verify`: recompute the log's tree from the stored events and check it against
every signed checkpoint, the stored tree and the checkpoint published outside the database.

One pass over the events in sequence order, in constant memory. Each event's canonical bytes
are rebuilt from its columns and must equal the stored bytes (an edited column shows here); its
leaf hash must equal the stored tree's (an edited canonical text shows here); sequence numbers
must run 1, 2, 3 ... up to the head counter (a deleted, inserted or reordered event shows here);
and the root over the first n events must be the root each checkpoint of size n signed (edits
made consistently to events and tree both show here, placed between two checkpoints). A log
shorter than a checkpoint it signed was truncated, or restored from an old snapshot."""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session

from mdm_server.audit import merkle, repository, tree
from mdm_server.audit.canonical import NotCanonicalError, canonical_bytes
from mdm_server.audit.merkle import CompactRange
from mdm_server.audit.notes import Checkpoint, NoteError, NoteVerifier
from mdm_server.audit.service import canonical_document

MAX_PROBLEMS = 100
PROGRESS_EVERY = 10_000


@dataclass(frozen=True)
class Problem:
    seq: int | None  # the first event concerned, where one can be named
    kind: str
    message: str


@dataclass
class Report:
    events: int = 0
    head: int = 0
    checkpoints: int = 0
    latest_checkpoint: int | None = None
    problems: list[Problem] = field(default_factory=list)
    more_problems: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_bad_seq(self) -> int | None:
        seqs = [problem.seq for problem in self.problems if problem.seq is not None]
        return min(seqs) if seqs else None

    def add(self, seq: int | None, kind: str, message: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(Problem(seq, kind, message))
        else:
            self.more_problems += 1

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "head": self.head,
            "checkpoints_checked": self.checkpoints,
            "latest_checkpoint": self.latest_checkpoint,
            "first_bad_seq": self.first_bad_seq,
            "problems": [problem.__dict__ for problem in self.problems],
            "more_problems": self.more_problems,
            "seconds": round(self.seconds, 3),
        }


def _signed_checkpoints(
    session: Session, verifier: NoteVerifier, published: Checkpoint | None, report: Report
) -> dict[int, bytes]:
    """Size -> root of every checkpoint whose signature verifies; the rest are problems."""
    roots: dict[int, bytes] = {}
    for stored in repository.checkpoints(session):
        try:
            signed = verifier.open(stored.note)
        except NoteError as exc:
            report.add(None, "checkpoint_signature", f"checkpoint {stored.size}: {exc}")
            continue
        if signed.size != stored.size or not hmac.compare_digest(signed.root, stored.root):
            report.add(None, "checkpoint_altered", f"checkpoint {stored.size}: row and note differ")
            continue
        roots[signed.size] = signed.root
    report.checkpoints = len(roots)
    if published is not None:
        known = roots.get(published.size)
        if known is not None and not hmac.compare_digest(known, published.root):
            report.add(
                None,
                "two_roots",
                f"the published checkpoint and the database disagree on size {published.size}",
            )
        roots.setdefault(published.size, published.root)
    return roots


def _leaves(session: Session) -> Iterator[tuple[int, bytes]]:
    yield from repository.leaves(session)
    while True:
        yield (-1, b"")


def verify(
    session: Session,
    *,
    verifier: NoteVerifier,
    published: Checkpoint | None = None,
    progress: Callable[[int], None] | None = None,
) -> Report:
    """Check the whole log; `progress(events_read)` is called every PROGRESS_EVERY events."""
    started = time.perf_counter()
    report = Report(head=tree.size(session))
    roots = _signed_checkpoints(session, verifier, published, report)
    report.latest_checkpoint = max(roots, default=None)
    compact = CompactRange()
    stored_leaves = _leaves(session)
    stored_index, stored_leaf = next(stored_leaves)
    good_until = 0  # the largest checkpoint size that matched
    expected = 1
    for row in repository.event_rows(session):
        seq = int(row.seq)
        report.events += 1
        if progress is not None and report.events % PROGRESS_EVERY == 0:
            progress(report.events)
        if seq > report.head:
            report.add(
                seq, "beyond_head", f"event {seq} lies beyond the log's head ({report.head})"
            )
            continue
        while expected < seq:  # events missing here: carry on with the tree's stored leaves
            report.add(expected, "missing", f"event {expected} is missing")
            while 0 <= stored_index < expected - 1:
                stored_index, stored_leaf = next(stored_leaves)
            if stored_index != expected - 1:
                break
            compact.append(stored_leaf)
            good_until = _check_root(compact, roots, good_until, report)
            expected += 1
        if seq != expected:
            break  # neither events nor stored leaves can rebuild the tree further
        data = row.canonical.encode("utf-8")
        try:
            rebuilt = canonical_bytes(canonical_document(row))
        except NotCanonicalError as exc:
            rebuilt = b""
            report.add(seq, "not_canonical", f"event {seq}: {exc}")
        if rebuilt and rebuilt != data:
            report.add(
                seq, "edited", f"event {seq}: its columns no longer match its canonical form"
            )
        leaf = merkle.leaf_hash(data)
        while 0 <= stored_index < seq - 1:
            stored_index, stored_leaf = next(stored_leaves)
        if stored_index != seq - 1 or not hmac.compare_digest(stored_leaf, leaf):
            report.add(
                seq, "leaf_mismatch", f"event {seq}: its hash differs from the stored tree's"
            )
        compact.append(leaf)
        good_until = _check_root(compact, roots, good_until, report)
        expected += 1
    last = expected - 1
    if last < report.head:
        report.add(last + 1, "truncated", f"events {last + 1} to {report.head} are missing")
    latest = report.latest_checkpoint
    if latest is not None and latest > max(last, report.head):
        report.add(
            max(last, report.head) + 1,
            "truncated",
            f"checkpoint {latest} was signed but the log ends at {max(last, report.head)}: "
            "truncated, or restored from an older snapshot",
        )
    _check_stored_roots(session, roots, report)
    report.seconds = time.perf_counter() - started
    return report


def _check_root(
    compact: CompactRange, roots: dict[int, bytes], good_until: int, report: Report
) -> int:
    signed = roots.get(compact.size)
    if signed is None:
        return good_until
    if hmac.compare_digest(compact.root(), signed):
        return compact.size
    named = [p.seq for p in report.problems if p.seq is not None and p.seq <= compact.size]
    if not named:  # events and tree were altered together: place it between two checkpoints
        report.add(
            good_until + 1,
            "checkpoint_mismatch",
            f"the first {compact.size} events do not hash to checkpoint {compact.size}'s root: "
            f"an event from {good_until + 1} to {compact.size} was altered",
        )
    return good_until


def _check_stored_roots(session: Session, roots: dict[int, bytes], report: Report) -> None:
    """The proofs the server hands out come from the stored tree: it must agree too."""
    for size, signed in sorted(roots.items()):
        if size > report.head:
            continue
        try:
            stored = tree.root(session, size)
        except merkle.ProofError as exc:
            report.add(None, "tree_incomplete", f"checkpoint {size}: {exc}")
            continue
        if not hmac.compare_digest(stored, signed):
            report.add(None, "tree_mismatch", f"the stored tree's root at {size} was altered")
