"""The durable outbox (docs/device-protocol.md §7): usage events in `outbox.db`, each given
the device's next sequence number and an event id when it is written, kept until the server
has acknowledged it. SQLite with `synchronous=FULL`: an event the agent has recorded survives
a crash or a flat battery, and an upload interrupted half-way is simply sent again (the server
keeps each event id once)."""

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

    def count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM events").fetchone()[0])

    def position(self) -> int:
        """The highest sequence number ever given (the check-in's `outbox_position`)."""
        row = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        self._db.close()
