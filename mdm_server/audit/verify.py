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

import dataclasses
import hmac
import json
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from json.scanner import make_scanner
from typing import Any

import psycopg
from psycopg.types.json import set_json_loads
from sqlalchemy import create_engine
from sqlmodel import Session

from mdm_server.audit import handover, merkle, repository, retention, tree
from mdm_server.audit.canonical import NotCanonicalError, encode_checked, timestamp
from mdm_server.audit.merkle import CompactRange
from mdm_server.audit.notes import Checkpoint, NoteError, NoteOpener, NoteVerifier
from mdm_server.audit.service import (
    DOCUMENT_JSONB,
    PendingEvent,
    canonical_document,
    document_at,
)

MAX_PROBLEMS = 100
CHUNK = 50_000  # events per unit of row-checking work
PARALLEL_FROM = 2 * CHUNK  # smaller logs are checked in process


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


@dataclass
class Chunk:
    """The row checks of events `low ..= high`: what a worker hands back."""

    seqs: list[int]
    leaves: list[bytes]
    problems: list[Problem]


_COLUMNS = tuple(field.name for field in dataclasses.fields(PendingEvent))
# The id as text: the canonical form writes it so, and PostgreSQL's text of a uuid costs less
# than building a UUID only to print it (SQLite stores text already).
_SELECTED = tuple("CAST(event_id AS TEXT)" if name == "event_id" else name for name in _COLUMNS)
_RAW_ROWS = (
    f"SELECT {', '.join(_SELECTED)} FROM audit_events "  # noqa: S608 (fixed column names)
    "WHERE seq >= %(low)s AND seq <= %(high)s ORDER BY seq"
)
_JSON = json.JSONDecoder()
_SCAN: Callable[[str, int], tuple[Any, int]] = make_scanner(_JSON)  # type: ignore[arg-type]


def _json_loads(data: str | bytes) -> Any:
    """The driver's JSON values decoded from text, without json.loads' guessing at the
    encoding of bytes (PostgreSQL sends UTF-8) or looking for the whitespace jsonb never
    writes around a value; text the scanner does not take whole is decoded the usual way,
    which says what is wrong with it."""
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    try:
        value, end = _SCAN(text, 0)
    except StopIteration:
        return _JSON.decode(text)
    return value if end == len(text) else _JSON.decode(text)


_EVENT_ID, _OCCURRED_AT, _DETAIL = (
    _COLUMNS.index(n) for n in ("event_id", "occurred_at", "detail")
)


def _event(values: Any) -> PendingEvent:
    """An event from the driver's values, converted only as far as canonical_document needs
    (it writes the id as text, so SQLite's bare hex becomes the dashed form, not a UUID): the
    verify pass skips the ORM's per-value type processing, its largest cost."""
    fields = list(values)
    event_id = fields[_EVENT_ID]
    if isinstance(event_id, str) and len(event_id) == 32:  # SQLite: bare hex text
        fields[_EVENT_ID] = "-".join(
            (event_id[:8], event_id[8:12], event_id[12:16], event_id[16:20], event_id[20:])
        )
    if isinstance(fields[_OCCURRED_AT], str):  # SQLite: naive UTC text
        fields[_OCCURRED_AT] = datetime.fromisoformat(fields[_OCCURRED_AT]).replace(tzinfo=UTC)
    if isinstance(fields[_DETAIL], str):  # SQLite: JSON text; PostgreSQL's driver decodes it
        fields[_DETAIL] = json.loads(fields[_DETAIL])
    return PendingEvent(*fields)


def _driver_rows(session: Session, low: int, high: int) -> Iterator[Any]:
    """The rows as the driver gives them, through its own cursor (SQLAlchemy's result rows
    cost more than the reading)."""
    connection = session.connection()
    statement = _RAW_ROWS
    if connection.dialect.paramstyle == "qmark":
        statement = statement.replace("%(low)s", "?").replace("%(high)s", "?")
        params: Any = (low, high)
    else:
        params = {"low": low, "high": high}
    cursor: Any = connection.connection.cursor()  # the driver's own, psycopg's or sqlite3's
    if isinstance(cursor, psycopg.Cursor):
        set_json_loads(_json_loads, cursor)
    try:
        cursor.execute(statement, params)
        while rows := cursor.fetchmany(5000):
            yield from rows
    finally:
        cursor.close()


def _canonical_time(value: datetime) -> str:
    """timestamp()'s form of an aware time, as isoformat writes it at half strftime's cost."""
    return f"{value.astimezone(UTC).isoformat(timespec='microseconds')[:-6]}Z"


def _rebuilt(values: Any) -> bytes | None:
    """The canonical bytes rebuilt the quick way: SQLite's time text put in canonical form
    as it stands rather than parsed and formatted. None if anything in it is amiss; then, as
    when the bytes differ, the row is checked again the careful way (`_problems`), so only a
    row that is as written is ever passed on this path."""
    try:
        fields = list(values)
        event_id, occurred = fields[_EVENT_ID], fields[_OCCURRED_AT]
        if isinstance(event_id, str) and len(event_id) == 32:
            fields[_EVENT_ID] = "-".join(
                (event_id[:8], event_id[8:12], event_id[12:16], event_id[16:20], event_id[20:])
            )
        if isinstance(occurred, str) and len(occurred) == 26 and occurred[10] == " ":
            time = f"{occurred[:10]}T{occurred[11:]}Z"  # 'YYYY-MM-DD HH:MM:SS.ffffff', UTC
        elif isinstance(occurred, datetime) and occurred.tzinfo is not None:
            time = _canonical_time(occurred)
        else:
            time = timestamp(occurred)
        if isinstance(fields[_DETAIL], str):
            fields[_DETAIL] = json.loads(fields[_DETAIL])
        return encode_checked(document_at(PendingEvent(*fields), time))
    except Exception:
        return None


def _problems(seq: int, values: Any, data: bytes) -> list[Problem]:
    """What is wrong with an event whose columns do not give back its canonical bytes."""
    problems: list[Problem] = []
    try:
        event = _event(values)
    except (ValueError, TypeError) as exc:  # a column no longer holds what it must
        event = None
        problems.append(Problem(seq, "edited", f"event {seq}: a column cannot be read ({exc})"))
    try:
        rebuilt = encode_checked(canonical_document(event)) if event is not None else b""
    except (NotCanonicalError, ValueError, TypeError) as exc:
        rebuilt = b""
        problems.append(Problem(seq, "not_canonical", f"event {seq}: {exc}"))
    if rebuilt and rebuilt != data:
        problems.append(
            Problem(seq, "edited", f"event {seq}: its columns no longer match its canonical form")
        )
    return problems


def check_rows(session: Session, low: int, high: int) -> Chunk:
    """Each stored event from `low` to `high`: its columns against its canonical text, and
    its leaf hash against the stored tree's. Independent of every other range. On PostgreSQL
    the database compares the columns with the text (`_check_rows_in_database`); elsewhere,
    and for any range the database cannot compare, the bytes are rebuilt here."""
    if session.get_bind().dialect.name == "postgresql":
        checked = _check_rows_in_database(session, low, high)
        if checked is not None:
            return checked
    return _check_rows_here(session, low, high)


def _check_rows_here(session: Session, low: int, high: int) -> Chunk:
    """The canonical bytes of each event rebuilt from its columns and compared with the stored
    text, byte for byte."""
    stored = dict(repository.leaves(session, first=low - 1, last=high - 1))
    chunk = Chunk([], [], [])
    for values in _driver_rows(session, low, high):
        seq = int(values[0])
        data = str(values[-1]).encode("utf-8")
        if _rebuilt(values) != data:
            chunk.problems.extend(_problems(seq, values, data))
        _add_leaf(chunk, stored, seq, data)
    return chunk


# Each event's text beside whether PostgreSQL finds its columns hold the same JSON values: the
# document built from the columns and the stored text, each as jsonb, compared as jsonb's text
# (which keeps a number's written form: 1 and 1.0 differ).
SAME_IN_DATABASE = f"CAST({DOCUMENT_JSONB} AS text) = CAST(CAST(canonical AS jsonb) AS text)"
_COMPARED = (
    f"SELECT seq, canonical, {SAME_IN_DATABASE} FROM audit_events "  # noqa: S608 (no input)
    "WHERE seq >= %(low)s AND seq <= %(high)s ORDER BY seq"
)


def _check_rows_in_database(session: Session, low: int, high: int) -> Chunk | None:
    """check_rows with PostgreSQL comparing each event's columns with its stored text, as JSON
    values, in its own C: the work that rebuilding the bytes in Python spent most of its time
    on. Here only the hashing is left: the leaf hash is still computed from the stored bytes
    and checked against the tree, and so against every signed checkpoint. A row the database
    finds different is checked again the careful way, which says what is wrong with it.

    What the database's comparison does not check is that the stored text is written in the
    canonical form, rather than merely holding the same values: that text is what each
    checkpoint signed, so it stands as written. None if the database cannot read a stored text
    as JSON at all: then the whole range is checked the careful way."""
    stored = dict(repository.leaves(session, first=low - 1, last=high - 1))
    connection: Any = session.connection().connection.driver_connection
    chunk = Chunk([], [], [])
    differing: list[tuple[int, bytes]] = []
    try:
        with connection.transaction(), connection.cursor() as cursor:
            cursor.execute(_COMPARED, {"low": low, "high": high})
            while rows := cursor.fetchmany(5000):
                for seq, text, same in rows:
                    data = text.encode("utf-8")
                    if same is not True:
                        differing.append((seq, data))
                    _add_leaf(chunk, stored, seq, data)
    except psycopg.DataError:  # a stored text that is not JSON: the savepoint is rolled back
        return None
    for seq, data in differing:
        for values in _driver_rows(session, seq, seq):
            chunk.problems.extend(_problems(seq, values, data))
    chunk.problems.sort(key=lambda problem: (problem.seq or 0, problem.kind == "leaf_mismatch"))
    return chunk


def _add_leaf(chunk: Chunk, stored: dict[int, bytes], seq: int, data: bytes) -> None:
    """An event's leaf hash, checked against the stored tree's, added to the chunk."""
    leaf = merkle.leaf_hash(data)
    if not hmac.compare_digest(stored.get(seq - 1, b""), leaf):
        chunk.problems.append(
            Problem(seq, "leaf_mismatch", f"event {seq}: its hash differs from the stored tree's")
        )
    chunk.seqs.append(seq)
    chunk.leaves.append(leaf)


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
