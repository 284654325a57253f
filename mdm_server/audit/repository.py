"""Audit queries: the head counter, the stored tree's nodes and the checkpoints."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import cache
from typing import Any

from sqlalchemy import Row, insert, select, union_all, update
from sqlmodel import Session, col

from mdm_server.audit.merkle import Node
from mdm_server.audit.models import (
    AuditCheckpoint,
    AuditEvent,
    AuditHead,
    AuditIndex,
    AuditSubject,
    AuditTreeNode,
)
from mdm_server.db import insert_ignoring_conflicts

HEAD_ID = 1
_NODE_CHUNK = 500  # nodes per IN (...): well under every driver's parameter limit
COPY_FROM = 50  # rows from which PostgreSQL inserts go by COPY (bulk units of work)
_PARTS_PER_QUERY = 60  # selects per UNION ALL (SQLite allows 500 terms of a compound)
_NEW_CHECKPOINT = insert_ignoring_conflicts(AuditCheckpoint.__table__)  # type: ignore[attr-defined]


def advance_head(session: Session, *, by: int) -> int:
    """Reserve `by` sequence numbers; returns the last one. Locks the head row until commit."""
    statement = (
        update(AuditHead)
        .where(col(AuditHead.id) == HEAD_ID)
        .values(last_seq=col(AuditHead.last_seq) + by)
        .returning(col(AuditHead.last_seq))
    )
    last = session.execute(statement).scalar_one_or_none()
    if last is None:
        raise RuntimeError("audit_head row is missing; run `tabard db upgrade`")
    return int(last)


def head(session: Session) -> int:
    """The last sequence number committed: the tree's size."""
    value = session.execute(
        select(col(AuditHead.last_seq)).where(col(AuditHead.id) == HEAD_ID)
    ).scalar_one_or_none()
    if value is None:
        raise RuntimeError("audit_head row is missing; run `tabard db upgrade`")
    return int(value)


def insert_nodes(session: Session, nodes: Iterable[tuple[Node, bytes]]) -> None:
    rows = [{"level": level, "idx": idx, "hash": value} for (level, idx), value in nodes]
    _insert(session, AuditTreeNode, rows)


def insert_events(session: Session, rows: list[dict[str, Any]]) -> None:
    _insert(session, AuditEvent, rows)


def insert_index(session: Session, rows: list[dict[str, Any]]) -> None:
    _insert(session, AuditIndex, rows)


def insert_subjects(session: Session, rows: list[dict[str, Any]]) -> None:
    _insert(session, AuditSubject, rows)


def _insert(session: Session, model: Any, rows: list[dict[str, Any]]) -> None:
    """Rows into one of the audit tables, in the unit of work: on PostgreSQL a batch goes by
    COPY (one statement, where an executemany is one per row), its values converted as the
    columns' types would bind them."""
    if not rows:
        return
    connection = session.connection()
    dialect = connection.dialect
    if dialect.name != "postgresql" or len(rows) < COPY_FROM:
        session.execute(insert(model), rows)
        return
    table = model.__table__
    names = list(rows[0])
    convert = [
        (index, processor)
        for index, name in enumerate(names)
        if (processor := table.c[name].type.dialect_impl(dialect).bind_processor(dialect))
    ]
    statement = f"COPY {table.name} ({', '.join(names)}) FROM STDIN"
    driver: Any = connection.connection.driver_connection  # psycopg's, in this transaction
    with driver.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            values = [row[name] for name in names]
            for index, processor in convert:
                values[index] = processor(values[index])
            copy.write_row(values)


def canonical_texts(session: Session, seqs: list[int]) -> dict[int, str]:
    """The canonical text of each of these events that exists."""
    found: dict[int, str] = {}
    for start in range(0, len(seqs), 1000):
        chunk = seqs[start : start + 1000]
        rows = session.execute(
            select(col(AuditEvent.seq), col(AuditEvent.canonical)).where(
                col(AuditEvent.seq).in_(chunk)
            )
        )
        found.update({int(seq): text for seq, text in rows})
    return found


def read_nodes(session: Session, wanted: Iterable[Node]) -> dict[Node, bytes]:
    """The stored nodes among `wanted` (a missing one is simply absent)."""
    by_level: dict[int, list[int]] = {}
    for level, idx in set(wanted):
        by_level.setdefault(level, []).append(idx)
    # One select per level, joined by UNION ALL into one round trip: each part walks the
    # primary key, where a row-value IN over (level, idx) makes SQLite scan the whole table.
    parts = []
    for level, indexes in sorted(by_level.items()):
        indexes.sort()
        for start in range(0, len(indexes), _NODE_CHUNK):
            parts.append(
                select(col(AuditTreeNode.level), col(AuditTreeNode.idx), col(AuditTreeNode.hash))
                .where(col(AuditTreeNode.level) == level)
                .where(col(AuditTreeNode.idx).in_(indexes[start : start + _NODE_CHUNK]))
            )
    found: dict[Node, bytes] = {}
    for first in range(0, len(parts), _PARTS_PER_QUERY):
        rows = session.execute(union_all(*parts[first : first + _PARTS_PER_QUERY]))
        found.update({(int(level), int(idx)): bytes(value) for level, idx, value in rows})
    return found


_HEAD_ROW = f"SELECT -1, last_seq, NULL FROM audit_head WHERE id = {HEAD_ID}"  # noqa: S608
# PostgreSQL: one statement text whatever the count, so the driver prepares it once and the
# server plans it once. Each span is its own range scan of the primary key (LATERAL, kept
# apart by the LIMIT, which a span's width bounds anyway): joined plainly, the planner guessed
# that a range matches a third of the table and scanned all of it (EXPLAIN ANALYZE: 311 ms,
# against 0.5 ms this way). The arrays are behind sub-selects so that a custom plan knows no
# more of them than the generic one: given them, it costs every call's plan below the
# generic plan and plans afresh each time (pg_prepared_statements: 0 generic plans of 5,800).
_HEAD_AND_SPANS_PG = (
    f"{_HEAD_ROW} UNION ALL SELECT n.level, n.idx, n.hash FROM unnest("  # noqa: S608
    "(SELECT %s::smallint[]), (SELECT %s::bigint[]), (SELECT %s::bigint[])"
    ") AS span (level, first, stop) "
    "CROSS JOIN LATERAL (SELECT level, idx, hash FROM audit_tree_nodes "
    "WHERE level = span.level AND idx >= span.first AND idx < span.stop "
    "LIMIT span.stop - span.first) AS n"
)


@cache
def _head_and_spans_sqlite(count: int) -> str:
    if not count:
        return _HEAD_ROW
    values = ", ".join(["(?, ?, ?)"] * count)
    return (
        f"WITH span (level, first, stop) AS (VALUES {values}) "  # noqa: S608 (only placeholders)
        f"{_HEAD_ROW} UNION ALL SELECT n.level, n.idx, n.hash FROM span "
        "JOIN audit_tree_nodes n "
        "ON n.level = span.level AND n.idx >= span.first AND n.idx < span.stop"
    )


def head_and_spans(
    session: Session, spans: list[tuple[int, int, int]]
) -> tuple[int, dict[Node, bytes]]:
    """The head counter and the stored nodes in `spans` (level, first index, end index), in one
    round trip: a join on the primary key from a list of spans, through the driver (a proof's
    query is built thousands of times a second, and building it as an expression cost more
    than running it)."""
    connection = session.connection()
    params: Any
    if connection.dialect.name == "postgresql":
        statement = _HEAD_AND_SPANS_PG
        # Each array as its text: the driver adapts a list of ints in Python, and that cost
        # the client more than the rest of the query.
        params = [
            "{" + ",".join([str(span[column]) for span in spans]) + "}" for column in range(3)
        ]
    else:
        statement = _head_and_spans_sqlite(len(spans))
        params = [value for span in spans for value in span]
    cursor = connection.connection.cursor()  # the unit of work's own connection
    try:
        cursor.execute(statement, params)
        rows = cursor.fetchall()
    finally:
        cursor.close()
    head: int | None = None
    found: dict[Node, bytes] = {}
    for level, idx, value in rows:
        if level == -1:
            head = int(idx)
        else:
            found[(level, idx)] = bytes(value)
    if head is None:
        raise RuntimeError("audit_head row is missing; run `tabard db upgrade`")
    return head, found


def leaves(
    session: Session, *, first: int = 0, last: int | None = None, batch: int = 10_000
) -> Iterator[tuple[int, bytes]]:
    """Stored leaf hashes as (index, hash), in order, from `first` to `last` inclusive (to the
    last stored leaf if not told): through the driver (verify reads every leaf, and
    SQLAlchemy's rows cost more than the reading), one window of `batch` indexes per query.

    Windows, not `idx > after ORDER BY idx LIMIT batch`: with the table's statistics stale (a
    log that grew since the last ANALYZE) PostgreSQL planned that as a scan of every leaf after
    `after` and a sort, on every page, and reading a million leaves took three times as long.
    A window bounds each query's work whatever the planner believes."""
    connection = session.connection()
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    statement = (
        f"SELECT idx, hash FROM audit_tree_nodes WHERE level = 0 AND idx >= {mark} "  # noqa: S608
        f"AND idx < {mark} ORDER BY idx"
    )
    cursor = connection.connection.cursor()
    try:
        if last is None:
            cursor.execute("SELECT max(idx) FROM audit_tree_nodes WHERE level = 0")
            (stored,) = cursor.fetchone() or (None,)
            if stored is None:
                return
            last = int(stored)
        for low in range(first, last + 1, batch):
            cursor.execute(statement, (low, min(low + batch, last + 1)))
            for idx, value in cursor.fetchall():
                yield idx, bytes(value)
    finally:
        cursor.close()


def event_rows(
    session: Session, *, low: int = 1, high: int | None = None, batch: int = 10_000
) -> Iterator[Row[Any]]:
    """Stored events from seq `low` to `high` inclusive, in order, as plain rows (attributes
    named as AuditEvent's), read in batches without building ORM objects."""
    table = AuditEvent.__table__  # type: ignore[attr-defined]
    after = low - 1
    while True:
        statement = select(table).where(table.c.seq > after).order_by(table.c.seq).limit(batch)
        if high is not None:
            statement = statement.where(table.c.seq <= high)
        rows = session.execute(statement).all()
        yield from rows
        if len(rows) < batch:
            return
        after = rows[-1].seq


def event_seqs_after(session: Session, seq: int) -> list[int]:
    return [
        int(value)
        for value in session.execute(
            select(col(AuditEvent.seq))
            .where(col(AuditEvent.seq) > seq)
            .order_by(col(AuditEvent.seq))
        ).scalars()
    ]


def event(session: Session, seq: int) -> AuditEvent | None:
    return session.get(AuditEvent, seq)


def latest_checkpoint(session: Session) -> AuditCheckpoint | None:
    return (
        session.execute(select(AuditCheckpoint).order_by(col(AuditCheckpoint.size).desc()).limit(1))
        .scalars()
        .first()
    )


def checkpoints(session: Session) -> list[AuditCheckpoint]:
    return list(
        session.execute(select(AuditCheckpoint).order_by(col(AuditCheckpoint.size))).scalars()
    )


def checkpoint_at(session: Session, size: int) -> AuditCheckpoint | None:
    return session.get(AuditCheckpoint, size)


def add_checkpoint(session: Session, checkpoint: AuditCheckpoint) -> bool:
    """Store a checkpoint; False if one of that size exists already (another worker's)."""
    result = session.execute(
        _NEW_CHECKPOINT[session.get_bind().dialect.name],
        {
            "size": checkpoint.size,
            "root": checkpoint.root,
            "note": checkpoint.note,
            "created_at": checkpoint.created_at,
        },
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
