"""The stored tree, checkpoints and verification, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from mdm_server.audit import checkpoints, merkle, repository, tree
from mdm_server.audit.notes import NoteSigner
from mdm_server.audit.service import record
from mdm_server.db import Database
from tests.audit.log import NOW, OFFICER, check, checkpoint, tamper, write_events


def _leaf_hashes(database: Database) -> list[bytes]:
    with database.unit_of_work(write=False) as session:
        return [merkle.leaf_hash(row.canonical.encode()) for row in repository.event_rows(session)]


class TestStoredTree:
    def test_matches_an_independent_tree_at_every_size(self, database: Database) -> None:
        write_events(database, 37, per_unit=5)
        independent = merkle.MemoryTree(_leaf_hashes(database))
        with database.unit_of_work(write=False) as session:
            assert tree.size(session) == 37
            for size in range(0, 38):
                assert tree.root(session, size) == independent.root(size)

    def test_every_inclusion_and_consistency_proof_verifies(self, database: Database) -> None:
        write_events(database, 21, per_unit=4)
        leaves = _leaf_hashes(database)
        with database.unit_of_work(write=False) as session:
            for size in range(1, 22):
                root = tree.root(session, size)
                for index in range(size):
                    proof = tree.inclusion_proof(session, index=index, at=size)
                    merkle.verify_inclusion(index, size, leaves[index], proof, root)
                for first in range(1, size + 1):
                    proof = tree.consistency_proof(session, first=first, second=size)
                    merkle.verify_consistency(first, size, tree.root(session, first), root, proof)

    def test_a_bulk_unit_is_stored_as_single_events_are(
        self, database: Database, data_dir: Path, signer: NoteSigner
    ) -> None:
        # Units past repository.COPY_FROM rows go by COPY on PostgreSQL.
        write_events(database, 3, per_unit=1)
        write_events(database, 2 * repository.COPY_FROM + 5, per_unit=2 * repository.COPY_FROM)
        write_events(database, 2, per_unit=1)
        size = 2 * repository.COPY_FROM + 10
        leaves = _leaf_hashes(database)
        independent = merkle.MemoryTree(leaves)
        with database.unit_of_work(write=False) as session:
            assert tree.size(session) == size
            assert tree.root(session, size) == independent.root()
            rows = list(repository.event_rows(session))
            assert [row.seq for row in rows] == list(range(1, size + 1))
            assert rows[50].detail == {"n": 47, "purpose": "INV"}
            assert rows[50].occurred_at == NOW
            assert session.execute(text("SELECT count(*) FROM audit_index")).scalar() == size
            for index in (0, 5, 77, size - 1):
                proof = tree.inclusion_proof(session, index=index, at=size)
                merkle.verify_inclusion(index, size, leaves[index], proof, independent.root())
        checkpoint(database, data_dir, signer)
        report = check(database, data_dir, signer)
        assert report.ok and report.events == size, report.problems

    def test_refuses_proofs_beyond_the_log(self, database: Database) -> None:
        write_events(database, 4)
        with database.unit_of_work(write=False) as session, pytest.raises(merkle.ProofError):
            tree.inclusion_proof(session, index=0, at=5)

    def test_a_rolled_back_unit_leaves_no_nodes(self, database: Database) -> None:
        write_events(database, 3)
        with pytest.raises(RuntimeError), database.unit_of_work() as session:
            record(session, actor=OFFICER, action="never", now=NOW)
            raise RuntimeError
        write_events(database, 2, start=3)
        assert merkle.MemoryTree(_leaf_hashes(database)).root() == _root(database)


def _root(database: Database) -> bytes:
    with database.unit_of_work(write=False) as session:
        return tree.root(session, tree.size(session))


class TestCheckpoints:
    def test_signs_the_root_and_publishes_it_outside_the_database(
        self, database: Database, data_dir: Path, signer: NoteSigner
    ) -> None:
        write_events(database, 9)
        assert checkpoint(database, data_dir, signer) == 9
        published = checkpoints.published(data_dir, signer.verifier())
        assert published is not None
        assert (published.size, published.root) == (9, _root(database))

    def test_signs_nothing_new_while_no_event_arrived(
        self, database: Database, data_dir: Path, signer: NoteSigner
    ) -> None:
        write_events(database, 2)
        checkpoint(database, data_dir, signer)
        with database.unit_of_work() as session:
            again = checkpoints.make(session, signer=signer, data_dir=data_dir, now=NOW)
            assert not again.new
            assert len(repository.checkpoints(session)) == 1

    def test_refuses_to_sign_over_an_altered_log(
        self, database: Database, data_dir: Path, signer: NoteSigner
    ) -> None:
        write_events(database, 6)
        checkpoint(database, data_dir, signer)
        tamper(
            database,
            "UPDATE audit_tree_nodes SET hash = :h WHERE level = 2 AND idx = 0",
            h=b"\x00" * 32,
        )
        write_events(database, 1, start=6)
        with pytest.raises(checkpoints.LogContradictionError, match="no longer hash"):
            checkpoint(database, data_dir, signer)

    def test_refuses_to_sign_a_log_shorter_than_the_published_checkpoint(
        self, database: Database, data_dir: Path, signer: NoteSigner
    ) -> None:
        write_events(database, 6)
        checkpoint(database, data_dir, signer)
        _rewind_to(database, 4)
        with pytest.raises(checkpoints.LogContradictionError, match="events 5 to 6 are missing"):
            checkpoint(database, data_dir, signer)

    def test_due_after_enough_events_or_time(
        self, database: Database, data_dir: Path, signer: NoteSigner
    ) -> None:
        from datetime import timedelta

        with database.unit_of_work() as session:
            assert not checkpoints.due(session, now=NOW, every_s=60, every_events=5)
        write_events(database, 2)
        with database.unit_of_work() as session:
            assert checkpoints.due(session, now=NOW, every_s=60, every_events=5)
        checkpoint(database, data_dir, signer)
        write_events(database, 4, start=2)
        with database.unit_of_work() as session:
            assert not checkpoints.due(session, now=NOW, every_s=60, every_events=5)
            assert checkpoints.due(
                session, now=NOW + timedelta(seconds=60), every_s=60, every_events=5
            )
        write_events(database, 1, start=6)
        with database.unit_of_work() as session:
            assert checkpoints.due(session, now=NOW, every_s=60, every_events=5)


def _rewind_to(database: Database, size: int) -> None:
    """Put the database back as it was when the log held `size` events: an old snapshot."""
    tamper(
        database,
        "DELETE FROM audit_events WHERE seq > :size",
        "DELETE FROM audit_index WHERE seq > :size",
        "DELETE FROM audit_tree_nodes WHERE (idx + 1) * (1 << level) > :size",
        "DELETE FROM audit_checkpoints WHERE size > :size",
        "UPDATE audit_head SET last_seq = :size",
        size=size,
    )


class TestVerify:
    def test_a_clean_log_verifies(
        self, database: Database, data_dir: Path, signer: NoteSigner
    ) -> None:
        write_events(database, 10)
        checkpoint(database, data_dir, signer)
        write_events(database, 5, start=10)
        checkpoint(database, data_dir, signer)
        write_events(database, 2, start=15)  # not yet in a checkpoint
        report = check(database, data_dir, signer)
        assert report.ok, report.problems
        assert (report.events, report.head, report.checkpoints) == (17, 17, 2)

    @pytest.mark.parametrize(
        ("statements", "first_bad", "kind"),
        [
            pytest.param(
                ['UPDATE audit_events SET detail = \'{"n": 99, "purpose": "INV"}\' WHERE seq = 7'],
                7,
                "edited",
                id="edit-a-column",
            ),
            pytest.param(
                [
                    "UPDATE audit_events SET canonical = replace(canonical, 'INV', 'XXX') "
                    "WHERE seq = 5"
                ],
                5,
                "edited",
                id="edit-the-canonical-text",
            ),
            pytest.param(["DELETE FROM audit_events WHERE seq = 8"], 8, "missing", id="delete"),
            pytest.param(
                [
                    "UPDATE audit_events SET seq = -1 WHERE seq = 4",
                    "UPDATE audit_events SET seq = 4 WHERE seq = 5",
                    "UPDATE audit_events SET seq = 5 WHERE seq = -1",
                ],
                4,
                "edited",
                id="reorder",
            ),
            pytest.param(
                ["DELETE FROM audit_events WHERE seq > 9"],
                10,
                "truncated",
                id="truncate-the-events",
            ),
        ],
    )
    def test_tampering_is_found_and_placed(
        self,
        database: Database,
        data_dir: Path,
        signer: NoteSigner,
        statements: list[str],
        first_bad: int,
        kind: str,
    ) -> None:
        write_events(database, 12)
        checkpoint(database, data_dir, signer)
        tamper(database, *statements)
        report = check(database, data_dir, signer)
        assert not report.ok
        assert report.first_bad_seq == first_bad, report.problems
        assert kind in {p.kind for p in report.problems if p.seq == first_bad}

    def test_an_inserted_event_is_found(
        self, database: Database, data_dir: Path, signer: NoteSigner
    ) -> None:
        """Room made for a forged event at 6 by moving 6.. up one, head and all."""
        write_events(database, 10)
        checkpoint(database, data_dir, signer)
        with database.unit_of_work(write=False) as session:
            rows = [r for r in repository.event_rows(session) if r.seq >= 6]
        for row in reversed(rows):
            tamper(
                database,
                "UPDATE audit_events SET seq = :new WHERE seq = :old",
                new=row.seq + 1,
                old=row.seq,
            )
        tamper(database, "UPDATE audit_head SET last_seq = 11")
        tamper(
            database,
            "INSERT INTO audit_events (seq, event_id, occurred_at, actor_type, action, detail, "
            "canonical) SELECT 6, :eid, occurred_at, actor_type, 'forged', detail, canonical "
            "FROM audit_events WHERE seq = 5",
            eid="0" * 32
            if database.dialect == "sqlite"
            else "00000000-0000-0000-0000-000000000000",
        )
        report = check(database, data_dir, signer)
        assert report.first_bad_seq == 6, report.problems

    def test_events_and_tree_rewritten_together_are_placed_between_checkpoints(
        self, database: Database, data_dir: Path, signer: NoteSigner
    ) -> None:
        write_events(database, 4)
        checkpoint(database, data_dir, signer)
        write_events(database, 4, start=4)
        checkpoint(database, data_dir, signer)
        # An insider rewrites event 6 consistently: columns, canonical text and leaf hash.
        with database.unit_of_work(write=False) as session:
            (row,) = [r for r in repository.event_rows(session) if r.seq == 6]
        forged = row.canonical.replace('"INV"', '"XYZ"')
        set_detail = {
            "postgresql": "UPDATE audit_events SET detail = CAST(:d AS jsonb) WHERE seq = 6",
            "sqlite": "UPDATE audit_events SET detail = :d WHERE seq = 6",
        }[database.dialect]
        tamper(
            database,
            set_detail,
            "UPDATE audit_events SET canonical = :c WHERE seq = 6",
            "UPDATE audit_tree_nodes SET hash = :h WHERE level = 0 AND idx = 5",
            c=forged,
            d='{"n": 5, "purpose": "XYZ"}',
            h=merkle.leaf_hash(forged.encode()),
        )
        report = check(database, data_dir, signer)
        (problem,) = report.problems
        assert (problem.seq, problem.kind) == (5, "checkpoint_mismatch")
        assert "from 5 to 8" in problem.message

    def test_the_restore_of_an_old_snapshot_is_found(
        self, database: Database, data_dir: Path, signer: NoteSigner
    ) -> None:
        write_events(database, 12)
        checkpoint(database, data_dir, signer)
        _rewind_to(database, 8)
        report = check(database, data_dir, signer)
        assert report.first_bad_seq == 9
        assert "older snapshot" in report.problems[0].message

    def test_a_snapshot_restored_then_written_over_is_found(
        self, database: Database, data_dir: Path, signer: NoteSigner
    ) -> None:
        """Events written after the restore take the old numbers, but not the old roots."""
        write_events(database, 12)
        checkpoint(database, data_dir, signer)
        _rewind_to(database, 8)
        write_events(database, 6, start=100)
        report = check(database, data_dir, signer)
        assert report.first_bad_seq == 1  # the checkpoint of 12 no longer matches: 1 to 12
        assert {p.kind for p in report.problems} >= {"checkpoint_mismatch"}


@pytest.mark.usefixtures("backend")
class TestAppendOnly:
    @pytest.mark.parametrize(
        "statement",
        [
            "UPDATE audit_events SET action = 'x' WHERE seq = 1",
            "DELETE FROM audit_events WHERE seq = 1",
            "TRUNCATE audit_events CASCADE",
            "UPDATE audit_tree_nodes SET hash = hash",
            "DELETE FROM audit_index",
            "DELETE FROM audit_checkpoints",
            "TRUNCATE audit_subjects",  # statement-level: refused though the table is empty
        ],
    )
    def test_postgresql_refuses_updates_and_deletes(
        self, database: Database, data_dir: Path, signer: NoteSigner, statement: str
    ) -> None:
        if database.dialect != "postgresql":
            pytest.skip("the triggers are PostgreSQL's")
        write_events(database, 2)
        checkpoint(database, data_dir, signer)
        with pytest.raises(DBAPIError, match="append-only"), database.unit_of_work() as session:
            session.execute(text(statement))
        assert check(database, data_dir, signer).ok


class TestVerifyInParallel:
    def test_workers_find_what_one_process_finds(
        self,
        committed_database: Database,
        data_dir: Path,
        signer: NoteSigner,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        from mdm_server.audit import verify as verification

        monkeypatch.setattr(verification, "CHUNK", 7)
        monkeypatch.setattr(verification, "PARALLEL_FROM", 10)
        write_events(committed_database, 40, per_unit=10)
        checkpoint(committed_database, data_dir, signer)
        with committed_database.unit_of_work(write=False) as session:
            clean = verification.verify(session, verifier=signer.verifier(), workers=2)
        assert clean.ok and clean.events == 40, clean.problems
        tamper(
            committed_database,
            "UPDATE audit_events SET canonical = replace(canonical, 'INV', 'XXX') WHERE seq = 23",
            "DELETE FROM audit_events WHERE seq = 31",
        )
        with committed_database.unit_of_work(write=False) as session:
            both = verification.verify(session, verifier=signer.verifier(), workers=2)
            alone = verification.verify(session, verifier=signer.verifier(), workers=1)
        assert both.first_bad_seq == alone.first_bad_seq == 23
        assert [(p.seq, p.kind) for p in both.problems] == [(p.seq, p.kind) for p in alone.problems]
        assert (31, "missing") in [(p.seq, p.kind) for p in both.problems]


def test_a_column_that_cannot_be_read_is_an_edit(
    database: Database, data_dir: Path, signer: NoteSigner
) -> None:
    if database.dialect != "sqlite":
        pytest.skip("PostgreSQL's jsonb refuses text that is not JSON")
    write_events(database, 5)
    checkpoint(database, data_dir, signer)
    tamper(database, "UPDATE audit_events SET detail = 'not json' WHERE seq = 3")
    report = check(database, data_dir, signer)
    assert report.first_bad_seq == 3
    assert [(p.seq, p.kind) for p in report.problems] == [(3, "edited")]
    assert "cannot be read" in report.problems[0].message
