"""The durable outbox (docs/device-protocol.md §7): usage events in `outbox.db`, each given
the device's next sequence number and an event id when it is written, kept until the server
has acknowledged it. SQLite with `synchronous=FULL`: an event the agent has recorded survives
a crash or a flat battery, and an upload interrupted half-way is simply sent again (the server
keeps each event id once). Events the server found numbered like another copy's are renumbered
(`resequence`); one it refuses as invalid is set aside (`refuse`): neither is ever dropped."""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FILE = "outbox.db"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS resequenced (
    event_id TEXT NOT NULL,
    old_seq INTEGER NOT NULL,
    new_seq INTEGER NOT NULL,
    at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS refused (
    seq INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    detail TEXT NOT NULL,
    problem TEXT NOT NULL,
    refused_at TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class OutboxEvent:
    seq: int
    event_id: str
    type: str
    occurred_at: str
    detail: dict[str, Any]

    def as_protocol(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "seq": self.seq,
            "type": self.type,
            "occurred_at": self.occurred_at,
            "detail": self.detail,
        }


class Outbox:
    """Events waiting for the server. AUTOINCREMENT never reuses a number, so sequence numbers
    stay unique across deletions and restarts."""

    def __init__(self, directory: Path) -> None:
        path = directory / FILE
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def add(self, type: str, detail: dict[str, Any], *, occurred_at: str) -> OutboxEvent:
        event_id = str(uuid.uuid4())
        cursor = self._db.execute(
            "INSERT INTO events (event_id, type, occurred_at, detail) VALUES (?, ?, ?, ?)",
            (event_id, type, occurred_at, json.dumps(detail, sort_keys=True)),
        )
        assert cursor.lastrowid is not None
        return OutboxEvent(cursor.lastrowid, event_id, type, occurred_at, detail)

    def pending(self, limit: int = 200) -> list[OutboxEvent]:
        rows = self._db.execute(
            "SELECT seq, event_id, type, occurred_at, detail FROM events ORDER BY seq LIMIT ?",
            (limit,),
        )
        return [OutboxEvent(s, e, t, o, json.loads(d)) for s, e, t, o, d in rows]

    def acknowledge(self, event_ids: list[str]) -> None:
        self._db.executemany("DELETE FROM events WHERE event_id = ?", [(e,) for e in event_ids])

    def resequence(self, event_ids: list[str], *, start: int, at: str) -> list[tuple[int, int]]:
        """Give these events new sequence numbers from `start` (or above every number this
        outbox has given), in their present order, keeping their ids: the server holds other
        events under their numbers (docs/device-protocol.md §7.1). One transaction, so a crash
        leaves either the old numbers or the new; each renumbering is kept in `resequenced`.
        The (old, new) numbers."""
        moved: list[tuple[int, int]] = []
        self._db.execute("BEGIN IMMEDIATE")
        try:
            placeholders = ",".join("?" * len(event_ids))
            rows = self._db.execute(
                f"SELECT seq, event_id FROM events WHERE event_id IN ({placeholders}) "  # noqa: S608 (placeholders only)
                "ORDER BY seq",
                event_ids,
            ).fetchall()
            next_seq = max(start, self.position() + 1)
            for old, event_id in rows:
                self._db.execute("UPDATE events SET seq = ? WHERE seq = ?", (next_seq, old))
                self._db.execute(
                    "INSERT INTO resequenced (event_id, old_seq, new_seq, at) VALUES (?, ?, ?, ?)",
                    (event_id, old, next_seq, at),
                )
                moved.append((old, next_seq))
                next_seq += 1
            if moved:  # AUTOINCREMENT counts inserts only: the next event comes after these
                self._db.execute(
                    "UPDATE sqlite_sequence SET seq = ? WHERE name = 'events'", (next_seq - 1,)
                )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return moved

    def resequenced(self) -> int:
        """How many times events of this outbox were renumbered."""
        return int(self._db.execute("SELECT count(*) FROM resequenced").fetchone()[0])

    def refuse(self, event_id: str, *, problem: str, at: str) -> None:
        """Set aside an event the server refused for good (it is not a valid event), with the
        reason: kept on the device and shown in the agent's status, never sent again."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.execute(
                "INSERT INTO refused (seq, event_id, type, occurred_at, detail, problem, "
                "refused_at) SELECT seq, event_id, type, occurred_at, detail, ?, ? FROM events "
                "WHERE event_id = ?",
                (problem, at, event_id),
            )
            self._db.execute("DELETE FROM events WHERE event_id = ?", (event_id,))
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def refused(self) -> list[dict[str, Any]]:
        """The events set aside as refused, oldest first, with why."""
        rows = self._db.execute(
            "SELECT seq, event_id, type, problem, refused_at FROM refused ORDER BY seq"
        )
        return [
            {"seq": s, "event_id": e, "type": t, "problem": p, "refused_at": r}
            for s, e, t, p, r in rows
        ]

    def count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM events").fetchone()[0])

    def position(self) -> int:
        """The highest sequence number ever given (the check-in's `outbox_position`)."""
        row = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        self._db.close()
