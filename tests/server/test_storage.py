"""Storage conformance: the same expectations on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import select

from mdm_server.audit.models import AuditEvent
from mdm_server.audit.service import Actor, record
from mdm_server.auth.models import StaffUser
from mdm_server.db import Database, ReadOnlyViolationError
from mdm_server.errors import AuthenticationError, ConflictError
from mdm_server.migrate import current_revision, head_revision, upgrade
from mdm_server.models import metadata
from tests.support import audit_events, count

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
SYSTEM = Actor.system("tests")


def _user(name: str) -> StaffUser:
    return StaffUser(
        username=name, role="auditor", password_hash="x", sessions_valid_after=NOW, created_at=NOW
    )


class TestMigrations:
    def test_schema_matches_the_models_exactly(self, migrated_engine: Engine) -> None:
        with migrated_engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, metadata) == []
            assert current_revision(connection) == head_revision()

    def test_upgrading_again_is_harmless(self, migrated_engine: Engine) -> None:
        upgrade(migrated_engine)
        with migrated_engine.connect() as connection:
            assert current_revision(connection) == head_revision()


class TestSqlitePragmas:
    def test_wal_and_foreign_keys_are_on(self, migrated_engine: Engine) -> None:
        if migrated_engine.dialect.name != "sqlite":
            pytest.skip("SQLite only")
        with migrated_engine.connect() as connection:
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1


class TestUnitOfWork:
    def test_commits_when_the_block_succeeds(self, database: Database) -> None:
        with database.unit_of_work() as session:
            session.add(_user("committed"))
        assert count(database, StaffUser) == 1

    def test_rolls_everything_back_when_the_block_fails(self, database: Database) -> None:
        with pytest.raises(ConflictError), database.unit_of_work() as session:
            session.add(_user("lost"))
            record(session, actor=SYSTEM, action="test.lost", now=NOW)
            session.flush()
            raise ConflictError("no")
        assert count(database, StaffUser) == 0
        assert audit_events(database) == []

    def test_keeps_changes_when_the_error_says_so(self, database: Database) -> None:
        with pytest.raises(AuthenticationError), database.unit_of_work() as session:
            session.add(_user("kept"))
            record(session, actor=SYSTEM, action="test.kept", now=NOW)
            raise AuthenticationError("refused, but counted", keep_changes=True)
        assert count(database, StaffUser) == 1
        assert [event.action for event in audit_events(database)] == ["test.kept"]

    def test_a_read_only_unit_refuses_to_write(self, database: Database) -> None:
        with pytest.raises(ReadOnlyViolationError), database.unit_of_work(write=False) as session:
            session.add(_user("sneaky"))
            session.flush()

    def test_timestamps_come_back_aware_and_in_utc(self, database: Database) -> None:
        with database.unit_of_work() as session:
            session.add(_user("clock"))
        with database.unit_of_work(write=False) as session:
            user = session.exec(select(StaffUser)).one()
        assert user.created_at == NOW
        assert user.created_at.tzinfo is not None


class TestAuditSequence:
    def test_is_gap_free_and_in_commit_order(self, database: Database) -> None:
        for action in ("a.one", "a.two"):
            with database.unit_of_work() as session:
                record(session, actor=SYSTEM, action=action, now=NOW)
                record(session, actor=SYSTEM, action=action, now=NOW)
        assert [e.seq for e in audit_events(database)] == [1, 2, 3, 4]

    def test_a_rolled_back_transaction_leaves_no_gap(self, database: Database) -> None:
        with database.unit_of_work() as session:
            record(session, actor=SYSTEM, action="first", now=NOW)
        with pytest.raises(RuntimeError), database.unit_of_work() as session:
            record(session, actor=SYSTEM, action="never", now=NOW)
            raise RuntimeError
        with database.unit_of_work() as session:
            record(session, actor=SYSTEM, action="second", now=NOW)
        assert [(e.seq, e.action) for e in audit_events(database)] == [(1, "first"), (2, "second")]

    def test_stores_the_canonical_form_of_each_event(self, database: Database) -> None:
        with database.unit_of_work() as session:
            record(
                session,
                actor=Actor(
                    type="staff",
                    id="u1",
                    name="alice",
                    role="it_admin",
                    source_ip="10.0.0.1",
                    request_id="r1",
                ),
                action="device.retired",
                now=NOW,
                target_type="device",
                target_id="d1",
                detail={"reason": "lost"},
            )
        (event,) = audit_events(database)
        assert event.canonical == (
            '{"action":"device.retired","actor":{"id":"u1","name":"alice","role":"it_admin",'
            '"type":"staff"},"context":{"request_id":"r1","source_ip":"10.0.0.1"},'
            '"detail":{"reason":"lost"},"id":"' + str(event.event_id) + '","seq":1,'
            '"target":{"id":"d1","type":"device"},"time":"2026-11-21T09:00:00.000000Z","v":1}'
        )

    def test_concurrent_writers_get_a_gap_free_sequence(self, committed_database: Database) -> None:
        writers, events_each = 8, 10
        start = threading.Barrier(writers)
        errors: list[BaseException] = []

        def write(worker: int) -> None:
            try:
                start.wait()
                for index in range(events_each):
                    with committed_database.unit_of_work() as session:
                        record(session, actor=SYSTEM, action=f"w{worker}.{index}", now=NOW)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        seqs = [event.seq for event in audit_events(committed_database)]
        assert seqs == list(range(1, writers * events_each + 1))
        assert count(committed_database, AuditEvent) == writers * events_each
