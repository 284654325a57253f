"""Upgrading a database that already holds audit events builds their tree and index."""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy import insert, text

from mdm_server.audit import merkle, tree
from mdm_server.audit.canonical import canonical_bytes
from mdm_server.audit.models import AuditEvent
from mdm_server.audit.service import canonical_document
from mdm_server.db import Database, build_engine
from mdm_server.migrate import upgrade
from tests.audit.log import NOW
from tests.conftest import make_settings


def test_events_written_before_the_tree_existed_get_one(tmp_path: Path) -> None:
    engine = build_engine(make_settings(tmp_path, database_url=f"sqlite:///{tmp_path}/old.db"))
    upgrade(engine, "0005")
    leaves = []
    with engine.begin() as connection:
        for seq in range(1, 14):
            event = AuditEvent(
                seq=seq,
                event_id=uuid.uuid4(),
                occurred_at=NOW,
                actor_type="system",
                action="transaction.person_search" if seq % 2 else "device.enrolled",
                target_type="device",
                target_id=f"d{seq % 3}",
                detail={"collar_number": f"C{seq % 4}", "type": "person_search"},
                canonical="",
            )
            data = canonical_bytes(canonical_document(event))
            event.canonical = data.decode()
            leaves.append(merkle.leaf_hash(data))
            connection.execute(insert(AuditEvent), [event.model_dump()])
        connection.execute(text("UPDATE audit_head SET last_seq = 13"))
    upgrade(engine)
    database = Database(engine)
    with database.unit_of_work(write=False) as session:
        assert tree.root(session, 13) == merkle.root_of(leaves)
        assert tree.inclusion_proof(session, index=4, at=13) == merkle.MemoryTree(leaves).inclusion(
            4, 13
        )
        rows = session.execute(
            text("SELECT seq, officer, device_id, transaction_type FROM audit_index ORDER BY seq")
        ).all()
    assert [tuple(r) for r in rows][:2] == [
        (1, "C1", "d1", "person_search"),
        (2, "C2", "d2", None),
    ]
    assert len(rows) == 13
    engine.dispose()
