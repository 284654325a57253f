"""`tabard audit verify`: recompute the log's tree from the stored events and check it against
every signed checkpoint, the stored tree and the checkpoint published outside the database.

One pass over the events in sequence order, in constant memory. Each event's columns must hold
its stored canonical text (an edited column shows here: PostgreSQL compares them as JSON values,
elsewhere the bytes are rebuilt from the columns and compared byte for byte); its
leaf hash must equal the stored tree's (an edited canonical text shows here); sequence numbers
must run 1, 2, 3 ... up to the head counter (a deleted, inserted or reordered event shows here);
and the root over the first n events must be the root each checkpoint of size n signed (edits
made consistently to events and tree both show here, placed between two checkpoints). A log
shorter than a checkpoint it signed was truncated, or restored from an old snapshot."""

from __future__ import annotations

import hmac
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import create_engine
from sqlmodel import Session

from mdm_server.audit import handover, merkle, repository, retention, tree
from mdm_server.audit.merkle import CompactRange
from mdm_server.audit.notes import Checkpoint, NoteError, NoteOpener, NoteVerifier
from mdm_server.audit.row_checks import Chunk, Problem, check_rows

MAX_PROBLEMS = 100
CHUNK = 50_000  # events per unit of row-checking work
PARALLEL_FROM = 2 * CHUNK  # smaller logs are checked in process


@dataclass
class Report:
    events: int = 0
    head: int = 0
    checkpoints: int = 0
    latest_checkpoint: int | None = None
    retention_through: int = 0  # events up to here were deleted by retention, on the record
    deleted_by_retention: int = 0
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
            "deleted_by_retention": self.deleted_by_retention,
            "first_bad_seq": self.first_bad_seq,
            "problems": [problem.__dict__ for problem in self.problems],
            "more_problems": self.more_problems,
            "seconds": round(self.seconds, 3),
        }


def _signed_checkpoints(
    session: Session, verifier: NoteOpener, published: Checkpoint | None, report: Report
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


def _check_rows_at(url: str, low: int, high: int) -> Chunk:
    """check_rows in a worker process, on a connection of its own."""
    from mdm_server.db import Database, normalise_url

    engine = create_engine(normalise_url(url))
    try:
        with Database(engine).unit_of_work(write=False) as session:
            return check_rows(session, low, high)
    finally:
        engine.dispose()


def _chunks(session: Session, head: int, workers: int) -> Iterator[Chunk]:
    """The row checks over 1 ..= head, in order: in this process for a small log, else spread
    over `workers` processes (the checks are CPU-bound and each range stands alone)."""
    ranges = [(low, min(low + CHUNK - 1, head)) for low in range(1, head + 1, CHUNK)]
    if workers <= 1 or len(ranges) <= 1:
        for low, high in ranges:
            yield check_rows(session, low, high)
        return
    url = session.get_bind().engine.url.render_as_string(hide_password=False)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = [pool.submit(_check_rows_at, url, low, high) for low, high in ranges]
        for future in futures:
            yield future.result()


def verify(
    session: Session,
    *,
    verifier: NoteVerifier,
    published: Checkpoint | None = None,
    progress: Callable[[int], None] | None = None,
    workers: int | None = None,
) -> Report:
    """Check the whole log; `progress(events_read)` is called as the work advances. Notes
    count as signed by `verifier` (the data directory's key) or by a key it took over from
    through the log's verified key-change records."""
    started = time.perf_counter()
    report = Report(head=tree.size(session))
    keys = handover.chain(session, verifier)
    for seq, message in keys.problems:
        report.add(seq, "key_change_record", message)
    roots = _signed_checkpoints(session, keys, published, report)
    report.latest_checkpoint = max(roots, default=None)
    report.retention_through, refused = retention.verified_through(session, keys)
    for seq, message in refused:
        report.add(seq, "retention_record", message)
    walk = _Walk(roots=roots, report=report)
    stuck = False
    workers = workers if workers is not None else (os.cpu_count() or 1)
    for chunk in _chunks(session, report.head, workers if report.head > PARALLEL_FROM else 1):
        for problem in chunk.problems:
            report.add(problem.seq, problem.kind, problem.message)
        for seq, leaf in zip(chunk.seqs, chunk.leaves, strict=True):
            report.events += 1
            if stuck:
                continue
            if walk.expected < seq:  # not stored: carry on with the tree's stored leaves
                walk.fill_gap(session, up_to=seq - 1)
            if seq != walk.expected:
                stuck = True  # neither events nor stored leaves can rebuild the tree further
                continue
            walk.append(leaf)
        if progress is not None:
            progress(report.events + report.deleted_by_retention)
    expected = walk.expected
    for seq in repository.event_seqs_after(session, report.head):
        report.events += 1
        report.add(seq, "beyond_head", f"event {seq} lies beyond the log's head ({report.head})")
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


@dataclass
class _Walk:
    """The tree rebuilt leaf by leaf, checked against each signed root it reaches."""

    roots: dict[int, bytes]
    report: Report
    compact: CompactRange = field(default_factory=CompactRange)
    good_until: int = 0  # the largest checkpoint size that matched
    expected: int = 1  # the next sequence number

    def append(self, leaf: bytes) -> None:
        self.compact.append(leaf)
        self.expected += 1
        signed = self.roots.get(self.compact.size)
        if signed is None:
            return
        size = self.compact.size
        if hmac.compare_digest(self.compact.root(), signed):
            self.good_until = size
            return
        named = [p.seq for p in self.report.problems if p.seq is not None and p.seq <= size]
        if not named:  # events and tree were altered together: place it between checkpoints
            self.report.add(
                self.good_until + 1,
                "checkpoint_mismatch",
                f"the first {size} events do not hash to checkpoint {size}'s root: "
                f"an event from {self.good_until + 1} to {size} was altered",
            )

    def fill_gap(self, session: Session, *, up_to: int) -> None:
        """Events `expected ..= up_to` are not stored: their leaves come from the stored tree.
        Those a verified retention record deleted are expected to be gone; others are missing.
        Stops at the first leaf the tree lacks too."""
        first = self.expected
        for index, leaf in repository.leaves(session, first=first - 1, last=up_to - 1):
            seq = index + 1
            if seq != self.expected:
                return
            if seq <= self.report.retention_through:
                self.report.deleted_by_retention += 1
            else:
                self.report.add(seq, "missing", f"event {seq} is missing")
            self.append(leaf)


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
