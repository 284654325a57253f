"""Retention (docs/audit.md "Retention"): old events deleted only with a signed deletion record,
the log still verifying and its proofs still holding, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy import func, select
from sqlmodel import col

from mdm_server.audit import merkle, repository, retention, tree
from mdm_server.audit.models import AuditEvent, AuditIndex, AuditSubject
from mdm_server.audit.notes import NoteSigner
from mdm_server.audit.service import record
from mdm_server.context import AppContext
from mdm_server.db import Database
from mdm_server.scheduler.jobs import apply_audit_retention
from tests.audit.log import NOW, OFFICER, ORIGIN, check, tamper
from tests.support import audit_events

KEY = "0123456789abcdef0123456789abcdef"  # a subject key, so audit_subjects has rows too


def write_days(database: Database, days_ago: list[int]) -> None:
    """One event per entry, at NOW minus that many days, in this order."""
    with database.unit_of_work() as session:
        for n, days in enumerate(days_ago):
            record(
                session,
                actor=OFFICER,
                action="transaction.person_search",
                now=NOW - timedelta(days=days),
                detail={"n": n, "collar_number": "4021", "subject_keys": [KEY]},
            )


def apply(
    database: Database, data_dir: Path, signer: NoteSigner, days: int = 30, now: datetime = NOW
) -> retention.Deletion | None:
    with database.unit_of_work() as session:
        return retention.apply(session, days=days, signer=signer, data_dir=data_dir, now=now)


def counts(database: Database) -> tuple[int, int, int]:
    with database.unit_of_work(write=False) as session:
        return tuple(  # type: ignore[return-value]
            session.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (AuditEvent, AuditIndex, AuditSubject)
        )


@pytest.mark.usefixtures("backend")
class TestRetention:
    def test_deletes_the_old_with_a_signed_record_and_the_log_still_verifies(
        self, database: Database, data_dir: Path, signer: NoteSigner
    ) -> None:
        write_days(database, [400, 300, 200, 40, 31, 29, 3, 0])
        deletion = apply(database, data_dir, signer)
        assert deletion is not None
        assert (deletion.through, deletion.deleted) == (5, 5)
        assert deletion.checkpoint_size == 8
        # Three kept, and the record (event 9); the search rows of the five are gone too.
        assert counts(database) == (4, 4, 3)
        (written,) = audit_events(database, retention.ACTION)
        assert written.seq == 9
        body = signer.verifier().verify(written.detail["note"])
        assert body == deletion.body(ORIGIN)
        assert body.splitlines()[2:4] == ["through 5", "deleted 5"]
        assert written.detail["retention_days"] == 30

        report = check(database, data_dir, signer)
        assert report.ok, report.problems
        assert report.deleted_by_retention == 5 and report.events == 4

    def test_proofs_of_kept_events_still_hold_against_old_checkpoints(
        self, database: Database, data_dir: Path, signer: NoteSigner
    ) -> None:
        write_days(database, [90, 80, 70, 1, 0])
        apply(database, data_dir, signer)
        with database.unit_of_work(write=False) as session:
            latest = repository.latest_checkpoint(session)
            assert latest is not None
            for seq in (4, 5):  # the two kept; the record came after the checkpoint
                (row,) = repository.event_rows(session, low=seq, high=seq)
                leaf = merkle.leaf_hash(row.canonical.encode())
                proof = tree.inclusion_proof(session, index=seq - 1, at=latest.size)
                merkle.verify_inclusion(seq - 1, latest.size, leaf, proof, latest.root)

    def test_nothing_due_writes_nothing_and_records_are_never_deleted(
        self, database: Database, data_dir: Path, signer: NoteSigner
    ) -> None:
        write_days(database, [5, 4, 3])
        assert apply(database, data_dir, signer) is None
        assert audit_events(database, retention.ACTION) == []
        first = apply(database, data_dir, signer, days=1, now=NOW + timedelta(days=10))
        assert first is not None and (first.through, first.deleted) == (3, 3)
        write_days(database, [1])
        later = apply(database, data_dir, signer, days=1, now=NOW + timedelta(days=400))
        assert later is not None and later.deleted == 1  # the first record stays
        actions = [event.action for event in audit_events(database)]
        assert actions == [retention.ACTION, retention.ACTION]
        assert check(database, data_dir, signer).ok

    def test_a_gap_no_record_accounts_for_is_still_missing(
        self, database: Database, data_dir: Path, signer: NoteSigner
    ) -> None:
        write_days(database, [90, 80, 70, 60, 1])
        apply(database, data_dir, signer)  # deletes 1 to 4
        tamper(database, "DELETE FROM audit_events WHERE seq = 5")  # not retention's doing
        report = check(database, data_dir, signer)
        assert report.first_bad_seq == 5
        assert [p.kind for p in report.problems] == ["missing"]

    def test_a_record_not_signed_by_the_log_key_accounts_for_nothing(
        self, database: Database, data_dir: Path, signer: NoteSigner
    ) -> None:
        write_days(database, [90, 80, 1])
        forger = NoteSigner(ORIGIN, ed25519.Ed25519PrivateKey.generate())
        # An insider with the database but not the key (nor the published checkpoint).
        apply(database, data_dir.parent / "elsewhere", forger)
        report = check(database, data_dir, signer)
        kinds = {p.kind for p in report.problems}
        assert "retention_record" in kinds and "missing" in kinds
        assert report.first_bad_seq == 1

    def test_an_edited_record_is_caught(
        self, database: Database, data_dir: Path, signer: NoteSigner
    ) -> None:
        write_days(database, [90, 80, 70, 1])
        apply(database, data_dir, signer)  # through 3; the record is event 5
        with database.unit_of_work(write=False) as session:
            canonical = session.execute(
                select(col(AuditEvent.canonical)).where(col(AuditEvent.seq) == 5)
            ).scalar_one()
        document = json.loads(canonical)
        document["detail"]["through"] = 4  # claim event 4 away too, then delete it
        tamper(
            database,
            "UPDATE audit_events SET canonical = :text, detail = :detail WHERE seq = 5",
            "DELETE FROM audit_events WHERE seq = 4",
            text=json.dumps(document),
            detail=json.dumps(document["detail"]),
        )
        report = check(database, data_dir, signer)
        assert not report.ok
        assert report.first_bad_seq is not None and report.first_bad_seq <= 5

    def test_the_daily_job_works_through_in_batches(
        self,
        database: Database,
        data_dir: Path,
        signer: NoteSigner,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(retention, "BATCH", 2)
        write_days(database, [90, 80, 70, 60, 50, 1])
        context = SimpleNamespace(
            settings=SimpleNamespace(audit_retention_days=30, data_dir=data_dir),
            database=database,
            audit_signer=signer,
            checkpoint_signer=lambda: signer,
        )
        done = apply_audit_retention(cast(AppContext, context), NOW)
        assert done == {"deleted": 5, "deletion_records": 3}
        report = check(database, data_dir, signer)
        assert report.ok, report.problems
        assert report.deleted_by_retention == 5

    def test_unset_keeps_everything(self, database: Database, data_dir: Path) -> None:
        write_days(database, [4000])
        context = SimpleNamespace(settings=SimpleNamespace(audit_retention_days=None))
        assert apply_audit_retention(cast(AppContext, context), NOW) == {
            "deleted": 0,
            "deletion_records": 0,
        }
        assert counts(database)[0] == 1
