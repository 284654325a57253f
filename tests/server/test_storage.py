"""Storage conformance: the same expectations on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import select

from mdm_server import metrics
from mdm_server.audit.models import AuditEvent
from mdm_server.audit.service import Actor, record
from mdm_server.auth.models import StaffUser
from mdm_server.db import Database, DirectConnections, ReadOnlyViolationError
from mdm_server.errors import AuthenticationError, ConflictError
from mdm_server.migrate import current_revision, head_revision, upgrade
from mdm_server.models import metadata
from tests.support import audit_events, count

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
T = TypeVar("T")
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


def _batches() -> tuple[float, float]:
    """How many batches the one-statement path has sent, and how many statements in all."""
    samples = {
        sample.name: sample.value for sample in metrics.ONE_STATEMENT_BATCH.collect()[0].samples
    }
    return samples["tabard_one_statement_batch_size_count"], samples[
        "tabard_one_statement_batch_size_sum"
    ]


def _with_direct(direct: DirectConnections, work: Callable[[], Awaitable[T]]) -> T:
    async def run() -> T:
        await direct.open()
        try:
            return await work()
        finally:
            await direct.close()

    return asyncio.run(run())


_INSERT = "INSERT INTO siem_cursors (target, last_seq) VALUES (%(target)s, 1) RETURNING target"


class TestOneStatementBatches:
    """The event loop's own connections (PostgreSQL): statements queued together go to the
    database together, in one write, and succeed or fail together."""

    @pytest.fixture
    def direct(self, committed_database: Database) -> DirectConnections:
        if committed_database.direct is None:
            pytest.skip("PostgreSQL only: SQLite has no round trips to save")
        return committed_database.direct

    @staticmethod
    def _targets(database: Database) -> dict[str, int]:
        with database.engine.connect() as connection:
            rows = connection.execute(text("SELECT target, last_seq FROM siem_cursors"))
            return {target: last_seq for target, last_seq in rows}

    def test_statements_queued_together_are_sent_together(self, direct: DirectConnections) -> None:
        count_before, sum_before = _batches()

        async def five() -> list[Any]:
            asked = [direct.one_row(_INSERT, {"target": f"t{n}"}, timeout_s=2) for n in range(5)]
            return await asyncio.gather(*asked)

        rows = _with_direct(direct, five)
        assert [row[0] for row in rows] == ["t0", "t1", "t2", "t3", "t4"]
        count_after, sum_after = _batches()
        assert (count_after - count_before, sum_after - sum_before) == (1, 5)

    def test_one_statement_failing_writes_nothing_of_its_batch(
        self, direct: DirectConnections, committed_database: Database
    ) -> None:
        failed_before = metrics.ONE_STATEMENT_FAILED._value.get()

        async def one_bad_among_good() -> list[Any]:
            return await asyncio.gather(
                direct.one_row(_INSERT, {"target": "before"}, timeout_s=2),
                direct.one_row("SELECT 1 / %(zero)s", {"zero": 0}, timeout_s=2),
                direct.one_row(_INSERT, {"target": "after"}, timeout_s=2),
            )

        assert _with_direct(direct, one_bad_among_good) == [None, None, None]
        assert self._targets(committed_database) == {}
        assert metrics.ONE_STATEMENT_FAILED._value.get() == failed_before + 1

    def test_a_row_held_by_another_transaction_gives_the_batch_up(
        self, direct: DirectConnections, committed_database: Database
    ) -> None:
        """Rather than wait on the ordinary path's transaction (or deadlock with it), the batch
        gives up after the lock timeout; its requests then take the ordinary path."""
        with committed_database.engine.begin() as connection:
            connection.execute(
                text("INSERT INTO siem_cursors (target, last_seq) VALUES ('held', 1)")
            )
        update = "UPDATE siem_cursors SET last_seq = 2 WHERE target = 'held' RETURNING target"
        with committed_database.engine.connect() as holder:
            holder.execute(text("SELECT 1 FROM siem_cursors WHERE target = 'held' FOR UPDATE"))

            async def blocked() -> Any:
                return await direct.one_row(update, {}, timeout_s=2)

            assert _with_direct(direct, blocked) is None
            holder.rollback()
        assert self._targets(committed_database) == {"held": 1}
        # With the lock free, the same statement goes through.
        assert _with_direct(direct, blocked) == ("held",)
        assert self._targets(committed_database) == {"held": 2}

    def test_closed_it_answers_none_and_runs_nothing(
        self, direct: DirectConnections, committed_database: Database
    ) -> None:
        async def unopened() -> Any:
            return await direct.one_row(_INSERT, {"target": "never"}, timeout_s=2)

        assert asyncio.run(unopened()) is None
        _with_direct(direct, lambda: asyncio.sleep(0))  # opened and closed again
        assert asyncio.run(unopened()) is None
        assert self._targets(committed_database) == {}
