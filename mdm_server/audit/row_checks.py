"""The row checks of `tabard audit verify`: one range of stored events, each event's columns
against its canonical text and its leaf hash against the stored tree's. Each range stands alone,
so verify spreads them over worker processes (verify.py); what a range hands back is a Chunk.

On PostgreSQL the database compares the columns with the text (`_check_rows_in_database`);
elsewhere, and for a range the database cannot compare, the bytes are rebuilt in Python and
compared byte for byte (`_check_rows_here`)."""

from __future__ import annotations

import dataclasses
import hmac
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from json.scanner import make_scanner
from typing import Any

import psycopg
from psycopg.types.json import set_json_loads
from sqlmodel import Session

from mdm_server.audit import merkle, repository
from mdm_server.audit.canonical import NotCanonicalError, encode_checked, timestamp
from mdm_server.audit.service import (
    DOCUMENT_JSONB,
    PendingEvent,
    canonical_document,
    document_at,
)


@dataclass(frozen=True)
class Problem:
    seq: int | None  # the first event concerned, where one can be named
    kind: str
    message: str


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
