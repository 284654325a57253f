"""Changing the checkpoint key: the change recorded in the log and signed by both keys, the
running server signing with the new key at once, the log verifying across it, a witness and an
old bundle following it from the old key, and forged or unrecorded changes refused."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from mdm_server.audit import bundle, checkpoints, handover, merkle, retention
from mdm_server.audit.notes import Checkpoint, NoteError, NoteSigner
from mdm_server.audit.service import Actor, record
from mdm_server.audit.witness import HttpLogServer, RecordedChange, Witness, WitnessError
from mdm_server.config import Settings
from mdm_server.context import AppContext
from mdm_server.crypto.keystore import KeyStore
from mdm_server.db import Database
from mdm_server.scheduler.jobs import checkpoint_audit_log
from tabard.cli import app as cli
from tests.audit.log import NOW, ORIGIN, check, checkpoint, fixed_signer, write_events
from tests.audit.test_bundle import DAY, write_searches
from tests.audit.test_verify_cli import SERVER_ORIGIN, sign_as_the_server
from tests.factories.staff import headers_for


def _rotate(context: AppContext) -> checkpoints.Rotated:
    return checkpoints.rotate_key(
        context.database,
        keys=context.keys,
        signer=context.checkpoint_signer(),
        data_dir=context.settings.data_dir,
        now=NOW,
    )


def _checkpoint_now(context: AppContext, minutes: int) -> None:
    """What the running server's scheduler does: sign with the key the data dir holds now."""
    checkpoint_audit_log(context, NOW + timedelta(minutes=minutes))


def _key_changes(client: TestClient) -> list[str]:
    response = client.get("/api/v1/audit/key-changes")
    assert response.status_code == 200, response.text
    return [item["note"] for item in response.json()["key_changes"]]


class TestOnTheRunningServer:
    def test_the_log_the_witness_and_an_old_bundle_follow_the_change(
        self, app: FastAPI, client: TestClient, database: Database, tmp_path: Path
    ) -> None:
        context: AppContext = app.state.context
        server = HttpLogServer("http://testserver", client=client)
        keeper = Witness(tmp_path / "witness")
        old_key = server.verifier_key()
        keeper.pin(old_key)
        write_searches(database, 6)
        _checkpoint_now(context, 1)
        assert keeper.observe(server).outcome == "first"
        auditor = headers_for(app, "auditor")
        old_bundle = client.get("/api/v1/audit/export", params=DAY, headers=auditor)
        assert old_bundle.status_code == 200, old_bundle.text

        rotated = _rotate(context)

        assert rotated.old_key == old_key != rotated.new_key
        assert server.verifier_key() == rotated.new_key  # no restart
        assert not context.keys.path(checkpoints.NEXT_KEY_FILE).exists()
        assert context.keys.problems() == []  # /ready stays ready: the server took the key up
        write_events(database, 5, start=100)
        _checkpoint_now(context, 5)
        latest = server.checkpoint()
        new = handover.read(_key_changes(client)[0]).new
        assert new.open(latest).size == rotated.checkpoint.size + 5

        result = keeper.observe(server)
        assert result.outcome == "accepted", result.reason
        assert keeper.pinned_key() == rotated.new_key
        assert keeper.previous_keys() == [old_key]
        assert keeper.observe(server).outcome == "unchanged"  # the held note, old or new key

        report = check(database, context.settings.data_dir, context.checkpoint_signer())
        assert report.ok, report.problems
        assert report.checkpoints >= 3  # before, at and after the change

        with pytest.raises(bundle.BundleError, match="key changes"):
            bundle.verify(old_bundle.content, verifier_key=rotated.new_key)
        followed = bundle.verify(
            old_bundle.content, verifier_key=rotated.new_key, key_changes=_key_changes(client)
        )
        assert followed.verifier_key == old_key
        assert followed.handed_over_to == [rotated.new_key]
        new_bundle = client.get("/api/v1/audit/export", params=DAY, headers=auditor)
        assert bundle.verify(new_bundle.content).verifier_key == rotated.new_key

    def test_the_public_record_of_the_change(
        self, app: FastAPI, client: TestClient, database: Database
    ) -> None:
        context: AppContext = app.state.context
        write_events(database, 4)
        rotated = _rotate(context)
        response = client.get("/api/v1/audit/key-changes")  # no account needed
        (item,) = response.json()["key_changes"]
        assert item["seq"] == rotated.seq == 5  # after the four events, the old key's last
        change = handover.read(item["note"])
        assert (change.old_key, change.new_key) == (rotated.old_key, rotated.new_key)
        event = json.loads(base64.b64decode(item["canonical"]))
        assert event["action"] == handover.ACTION
        assert event["actor"]["name"] == "key rotation"
        assert "\nafter 4 " in item["note"]


class TestTheCommand:
    @pytest.fixture
    def runner(
        self, committed_database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> CliRunner:
        url = committed_database.engine.url.render_as_string(hide_password=False)
        monkeypatch.setenv("TABARD_DATA_DIR", str(tmp_path / "data"))
        monkeypatch.setenv("TABARD_DATABASE_URL", url)
        monkeypatch.setenv("TABARD_AUDIT_ORIGIN", ORIGIN)
        return CliRunner()

    def test_interrupted_it_carries_on_with_the_same_new_key(
        self, runner: CliRunner, committed_database: Database, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        write_events(committed_database, 10)
        assert runner.invoke(cli, ["audit", "checkpoint"]).exit_code == 0
        settings = Settings()
        keys = KeyStore(settings.keys_dir)
        old = checkpoints.load_signer(keys, settings).verifier_key()

        def power_cut(*_: Any) -> None:
            raise OSError("the power went")

        with monkeypatch.context() as patched:
            patched.setattr(checkpoints, "_replace", power_cut)
            cut = runner.invoke(cli, ["keys", "rotate", "checkpoint"])
        assert cut.exit_code != 0
        assert keys.path(checkpoints.NEXT_KEY_FILE).exists()  # the new key, kept for the rerun
        assert checkpoints.load_signer(keys, settings).verifier_key() == old  # not swapped yet

        again = runner.invoke(cli, ["keys", "rotate", "checkpoint", "--json"])
        assert again.exit_code == 0, again.output
        done = json.loads(again.stdout)
        assert done["old_key"] == old and done["recorded_at_seq"] == 11
        assert checkpoints.load_signer(keys, settings).verifier_key() == done["new_key"]
        with committed_database.unit_of_work(write=False) as session:
            assert [seq for seq, _ in handover.recorded(session)] == [11]  # recorded once
        verified = runner.invoke(cli, ["audit", "verify", "--json"])
        assert verified.exit_code == 0, verified.output
        assert json.loads(verified.stdout)["checkpoints_checked"] == 2  # old key, new key

        shown = runner.invoke(cli, ["keys", "rotate", "checkpoint"])  # a second change
        assert shown.exit_code == 0, shown.output
        assert "The checkpoint key changed" in shown.output
        assert runner.invoke(cli, ["audit", "verify"]).exit_code == 0

    def test_stopped_after_the_swap_the_host_commands_still_read_the_logs_origin(
        self,
        runner: CliRunner,
        committed_database: Database,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.delenv("TABARD_AUDIT_ORIGIN")  # as on the host: read off the log
        monkeypatch.delenv("TABARD_PUBLIC_URL", raising=False)
        write_events(committed_database, 5)
        sign_as_the_server(committed_database, tmp_path / "data")
        swap = checkpoints._replace

        def swap_then_power_cut(*args: Any) -> None:
            swap(*args)
            raise OSError("the power went")

        with monkeypatch.context() as patched:
            patched.setattr(checkpoints, "_replace", swap_then_power_cut)
            cut = runner.invoke(cli, ["keys", "rotate", "checkpoint"])
        assert cut.exit_code != 0  # no checkpoint by the new key yet
        verified = runner.invoke(cli, ["audit", "verify", "--json"])
        assert verified.exit_code == 0, verified.output
        assert json.loads(verified.stdout)["origin"] == SERVER_ORIGIN
        signed = runner.invoke(cli, ["audit", "checkpoint", "--json"])
        assert signed.exit_code == 0, signed.output
        assert json.loads(signed.stdout)["size"] == 6  # the key change, under the new key

    def test_a_forged_key_change_is_a_problem_and_its_key_is_not_taken(
        self, committed_database: Database, tmp_path: Path
    ) -> None:
        data_dir = tmp_path / "data"
        signer = fixed_signer()
        write_events(committed_database, 6)
        checkpoint(committed_database, data_dir, signer)
        impostor = NoteSigner(ORIGIN, ed25519.Ed25519PrivateKey.generate())
        text = handover.body(
            ORIGIN,
            old=signer.verifier_key(),
            new=impostor.verifier_key(),
            after_size=6,
            after_root="AAAA",
        )
        forged = impostor.cosign(impostor.sign_text(text))  # not signed by the log's key
        with committed_database.unit_of_work() as session:
            record(
                session,
                actor=Actor.system("key rotation"),
                action=handover.ACTION,
                now=NOW,
                detail={
                    "from": signer.verifier_key(),
                    "to": impostor.verifier_key(),
                    "note": forged,
                },
            )
            made = impostor.sign(Checkpoint(ORIGIN, 7, b"\0" * 32))
        report = check(committed_database, data_dir, signer)
        assert not report.ok
        assert [p.kind for p in report.problems] == ["key_change_record"]
        assert "no signature" in report.problems[0].message
        with committed_database.unit_of_work(write=False) as session:
            keys = handover.chain(session, signer.verifier())
        with pytest.raises(NoteError):
            keys.open(made)  # the impostor's checkpoints are not the log's


class ChangingLog:
    """A log whose key changes, with its key-change records as leaves of its tree."""

    def __init__(self) -> None:
        self.signer = fixed_signer()
        self.tree = merkle.MemoryTree()
        self.records: list[RecordedChange] = []

    def grow(self, count: int) -> None:
        for n in range(count):
            self.tree.append(merkle.leaf_hash(f"event {self.tree.size} {n}".encode()))

    def change_key(self, *, record: bool = True, signed_by: NoteSigner | None = None) -> None:
        successor = NoteSigner(ORIGIN, ed25519.Ed25519PrivateKey.generate())
        old = signed_by or self.signer
        text = handover.body(
            ORIGIN,
            old=self.signer.verifier_key(),
            new=successor.verifier_key(),
            after_size=self.tree.size,
            after_root="AAAA",
        )
        note = successor.cosign(old.sign_text(text))
        seq = self.tree.size + 1
        canonical = json.dumps(
            {"seq": seq, "action": handover.ACTION, "detail": {"note": note}}
        ).encode()
        if record:
            self.tree.append(merkle.leaf_hash(canonical))
        self.records.append(RecordedChange(seq, note, canonical))
        self.signer = successor

    def checkpoint(self) -> str:
        size = self.tree.size
        return self.signer.sign(Checkpoint(ORIGIN, size, self.tree.root(size)))

    def consistency(self, first: int, second: int) -> list[bytes]:
        return self.tree.consistency(first, second)

    def key_changes(self) -> list[RecordedChange]:
        return self.records

    def inclusion(self, seq: int, size: int) -> list[bytes]:
        return self.tree.inclusion(seq - 1, size)


class TestTheWitness:
    @pytest.fixture
    def log(self, tmp_path: Path) -> ChangingLog:
        return ChangingLog()

    @pytest.fixture
    def keeper(self, tmp_path: Path, log: ChangingLog) -> Witness:
        keeper = Witness(tmp_path / "w")
        keeper.pin(log.signer.verifier_key())
        log.grow(4)
        assert keeper.observe(log).outcome == "first"
        return keeper

    def test_it_follows_two_changes_made_while_it_was_away(
        self, keeper: Witness, log: ChangingLog
    ) -> None:
        first = log.signer.verifier_key()
        log.change_key()
        log.grow(3)
        second = log.signer.verifier_key()
        log.change_key()
        log.grow(2)
        result = keeper.observe(log)
        assert result.outcome == "accepted"
        assert result.followed == (second, log.signer.verifier_key())
        assert keeper.pinned_key() == log.signer.verifier_key()
        assert keeper.previous_keys() == [first, second]
        assert len(list((keeper.state / "key-changes").iterdir())) == 2

    def test_a_change_signed_by_another_key_is_refused(
        self, keeper: Witness, log: ChangingLog
    ) -> None:
        pinned = keeper.pinned_key()
        log.change_key(signed_by=NoteSigner(ORIGIN, ed25519.Ed25519PrivateKey.generate()))
        log.grow(2)
        with pytest.raises(WitnessError, match=r"do not verify|does not verify"):
            keeper.observe(log)
        assert keeper.pinned_key() == pinned

    def test_a_change_the_log_does_not_hold_is_refused(
        self, keeper: Witness, log: ChangingLog
    ) -> None:
        pinned = keeper.pinned_key()
        log.change_key(record=False)  # shown to the witness, never written to the log
        log.grow(2)
        with pytest.raises(WitnessError, match=r"not in the log|not the log's record"):
            keeper.observe(log)
        assert keeper.pinned_key() == pinned


def test_the_witness_command_follows_a_change_on_the_real_api(
    app: FastAPI, client: TestClient, database: Database, tmp_path: Path
) -> None:
    context: AppContext = app.state.context
    server = HttpLogServer("http://testserver", client=client)
    keeper = Witness(tmp_path / "w")
    keeper.pin(server.verifier_key())
    write_events(database, 3)
    _checkpoint_now(context, 1)
    assert keeper.observe(server).outcome == "first"
    _rotate(context)
    _rotate(context)  # twice while the witness looked away
    write_events(database, 2, start=50)
    _checkpoint_now(context, 9)
    assert keeper.observe(server).outcome == "accepted"
    assert keeper.pinned_key() == server.verifier_key()
    assert len(keeper.previous_keys()) == 2


def test_retention_keeps_the_key_changes_and_the_log_verifies_across_them(
    app: FastAPI, database: Database
) -> None:
    context: AppContext = app.state.context
    write_events(database, 6)
    rotated = _rotate(context)
    write_events(database, 3, start=10)
    later = NOW + timedelta(days=60)
    with database.unit_of_work() as session:
        done = retention.apply(
            session,
            days=30,
            signer=context.checkpoint_signer(),
            data_dir=context.settings.data_dir,
            now=later,
        )
    assert done is not None and done.deleted == 9  # every event but the key change
    with database.unit_of_work(write=False) as session:
        assert [seq for seq, _ in handover.recorded(session)] == [rotated.seq]
    report = check(database, context.settings.data_dir, context.checkpoint_signer())
    assert report.ok, report.problems
