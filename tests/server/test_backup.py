"""Backups on each backend: taken while events are being written, checked whole, restored onto
an empty data directory and database, where the audit log verifies with the restored keys.
Damaged files, wrong keys and occupied targets are refused with nothing written."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyrage
import pytest
from sqlmodel import col, select
from typer.testing import CliRunner

from mdm_server import backup
from mdm_server.audit import checkpoints
from mdm_server.audit.models import AuditEvent
from mdm_server.audit.verify import verify as verify_log
from mdm_server.config import Settings
from mdm_server.context import AppContext
from mdm_server.db import build_engine
from mdm_server.migrate import upgrade
from mdm_server.ops import master_rotation
from tabard.cli import app as cli
from tests.audit.log import NOW, write_events
from tests.conftest import make_settings
from tests.databases import PostgresDatabases
from tests.factories.secure import container_key_of, device_with_container_key


@dataclass
class Install:
    settings: Settings
    context: AppContext


class Installs:
    """Tabard installs, each a data directory and a database of the test's backend."""

    def __init__(self, backend: str, root: Path, postgres: PostgresDatabases | None) -> None:
        self.backend, self.root, self.postgres = backend, root, postgres
        self.made: list[Install] = []

    def settings(self, name: str) -> Settings:
        data = self.root / name
        data.mkdir(mode=0o700)
        if self.backend == "sqlite":
            url = f"sqlite:///{data / 'tabard.db'}"
        else:
            assert self.postgres is not None
            url = self.postgres.create()
        return make_settings(data, database_url=url)

    def running(self, name: str) -> Install:
        """A migrated install with its keys, as a server leaves it."""
        settings = self.settings(name)
        engine = build_engine(settings)
        upgrade(engine)
        engine.dispose()
        made = Install(settings, AppContext.build(settings))
        self.made.append(made)
        return made

    def opened(self, settings: Settings) -> Install:
        made = Install(settings, AppContext.build(settings))
        self.made.append(made)
        return made

    def close(self) -> None:
        for made in self.made:
            made.context.database.dispose()
            if self.backend == "postgresql" and self.postgres:
                self.postgres.drop(made.settings.effective_database_url)


@pytest.fixture
def installs(
    backend: str, tmp_path: Path, postgres: PostgresDatabases | None
) -> Iterator[Installs]:
    made = Installs(backend, tmp_path, postgres)
    yield made
    made.close()


@pytest.fixture(scope="module")
def identity() -> pyrage.x25519.Identity:
    return pyrage.x25519.Identity.generate()


def to(identity: pyrage.x25519.Identity) -> backup.Encryption:
    return backup.Encryption(recipients=(str(identity.to_public()),))


def by(identity: pyrage.x25519.Identity) -> backup.Decryption:
    return backup.Decryption(identities=(str(identity),))


def events(install: Install) -> list[tuple[int, str]]:
    with install.context.database.unit_of_work(write=False) as session:
        rows = session.exec(select(AuditEvent).order_by(col(AuditEvent.seq))).all()
        return [(row.seq, row.canonical) for row in rows]


def signed(install: Install) -> int:
    context = install.context
    with context.database.unit_of_work() as session:
        made = checkpoints.make(
            session, signer=context.audit_signer, data_dir=install.settings.data_dir, now=NOW
        )
    return made.checkpoint.size


def verifies(install: Install) -> bool:
    verifier = install.context.audit_signer.verifier()
    published = checkpoints.published(install.settings.data_dir, verifier)
    with install.context.database.unit_of_work(write=False) as session:
        return verify_log(session, verifier=verifier, published=published).ok


def key_files(settings: Settings) -> dict[str, bytes]:
    keys = settings.keys_dir
    return {p.name: p.read_bytes() for p in keys.iterdir() if not p.name.startswith(".")}


class TestRoundTrip:
    def test_taken_under_load_restored_onto_an_empty_install_verifies(
        self, installs: Installs, identity: pyrage.x25519.Identity, tmp_path: Path
    ) -> None:
        live = installs.running("live")
        write_events(live.context.database, 30)
        assert signed(live) == 30
        live.context.apks.put([b"an APK's bytes"])
        before = events(live)

        stop = threading.Event()

        def keep_writing() -> None:
            start = 30
            while not stop.is_set():
                write_events(live.context.database, 3, start=start)
                start += 3

        writer = threading.Thread(target=keep_writing)
        writer.start()
        try:
            out = tmp_path / "tabard.backup"
            manifest = backup.create(live.settings, out, to(identity), now=NOW)
        finally:
            stop.set()
            writer.join()
        assert os.stat(out).st_mode & 0o777 == 0o600
        assert b"an APK's bytes" not in out.read_bytes()  # encrypted
        assert any(name.startswith("data/apks/") for name in manifest["files"])

        found = backup.verify(out, by(identity))
        assert found.dialect == installs.backend and found.schema == manifest["schema"]
        if installs.backend == "sqlite":
            assert found.audit_events is not None and found.audit_events >= 30

        fresh = installs.settings("restored")
        backup.restore(out, fresh, by(identity), progress=lambda _: None)
        restored = installs.opened(fresh)
        held = events(restored)
        assert held[: len(before)] == before  # every event written before the backup began
        assert [seq for seq, _ in held] == list(range(1, len(held) + 1))  # a consistent cut
        assert key_files(fresh) == key_files(live.settings)
        assert verifies(restored)
        assert list(restored.context.apks.stored())

    def test_under_a_passphrase(self, installs: Installs, tmp_path: Path) -> None:
        live = installs.running("live")
        write_events(live.context.database, 5)
        out = tmp_path / "tabard.backup"
        backup.create(live.settings, out, backup.Encryption(passphrase="correct horse"), now=NOW)
        assert backup.verify(out, backup.Decryption(passphrase="correct horse")).files >= 1
        with pytest.raises(backup.BackupError, match="wrong key or passphrase"):
            backup.verify(out, backup.Decryption(passphrase="wrong horse"))

    def test_after_a_master_key_rotation_the_restored_install_opens_its_secrets(
        self, installs: Installs, identity: pyrage.x25519.Identity, tmp_path: Path
    ) -> None:
        live = installs.running("live")
        device_id, container_key = device_with_container_key(live.context)
        derived = live.context.master_key.derive(b"tabard/test")
        master_rotation.rotate(
            live.context.database, live.settings.keys_dir, batch=10, now=lambda: NOW
        )
        out = tmp_path / "tabard.backup"
        manifest = backup.create(live.settings, out, to(identity), now=NOW)
        fresh = installs.settings("restored")
        backup.restore(out, fresh, by(identity), progress=lambda _: None)
        restored = installs.opened(fresh)

        assert {"data/keys/master.2.key", "data/keys/master.root"} <= set(manifest["files"])
        assert "data/keys/master.key" not in manifest["files"]  # retired by the rotation
        assert key_files(fresh) == key_files(live.settings)
        assert container_key_of(restored.context, device_id) == container_key
        assert restored.context.master_key.derive(b"tabard/test") == derived


class TestRefusals:
    @pytest.fixture
    def taken(self, installs: Installs, identity: pyrage.x25519.Identity, tmp_path: Path) -> Path:
        live = installs.running("live")
        write_events(live.context.database, 5)
        signed(live)
        out = tmp_path / "tabard.backup"
        backup.create(live.settings, out, to(identity), now=NOW)
        return out

    def test_a_damaged_backup(self, taken: Path, identity: pyrage.x25519.Identity) -> None:
        data = bytearray(taken.read_bytes())
        data[len(data) // 2] ^= 0x01
        taken.write_bytes(bytes(data))
        with pytest.raises(backup.BackupError, match="cannot decrypt"):
            backup.verify(taken, by(identity))

    def test_another_key(self, taken: Path) -> None:
        with pytest.raises(backup.BackupError, match="wrong key or passphrase"):
            backup.verify(taken, by(pyrage.x25519.Identity.generate()))

    def test_a_data_directory_that_holds_keys(
        self, installs: Installs, taken: Path, identity: pyrage.x25519.Identity
    ) -> None:
        occupied = installs.running("occupied")
        keys = key_files(occupied.settings)
        with pytest.raises(backup.BackupError, match="restore onto an empty one"):
            backup.restore(taken, occupied.settings, by(identity), progress=lambda _: None)
        assert key_files(occupied.settings) == keys

    def test_a_database_that_holds_tables(
        self, installs: Installs, taken: Path, identity: pyrage.x25519.Identity
    ) -> None:
        settings = installs.settings("tables")
        engine = build_engine(settings)
        upgrade(engine)
        engine.dispose()
        with pytest.raises(backup.BackupError, match="restore onto"):
            backup.restore(taken, settings, by(identity), progress=lambda _: None)
        assert not settings.keys_dir.exists()  # nothing written

    def test_a_data_directory_without_keys(
        self, installs: Installs, identity: pyrage.x25519.Identity, tmp_path: Path
    ) -> None:
        settings = installs.settings("keyless")  # a database, but not the server's directory
        engine = build_engine(settings)
        upgrade(engine)
        engine.dispose()
        with pytest.raises(backup.BackupError, match="holds no keys"):
            backup.create(settings, tmp_path / "x", to(identity), now=NOW)
        assert not (tmp_path / "x").exists()

    def test_nothing_to_encrypt_to(self, installs: Installs, tmp_path: Path) -> None:
        live = installs.running("live")
        with pytest.raises(backup.BackupError, match="give a recipient"):
            backup.create(live.settings, tmp_path / "x", backup.Encryption(), now=NOW)
        assert not (tmp_path / "x").exists()


class TestCommands:
    def test_keygen_create_verify_restore(
        self, installs: Installs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        live = installs.running("live")
        write_events(live.context.database, 4)
        runner = CliRunner()
        monkeypatch.setenv("TABARD_DATA_DIR", str(live.settings.data_dir))
        monkeypatch.setenv("TABARD_DATABASE_URL", live.settings.effective_database_url)
        key = tmp_path / "backup.key"
        made = runner.invoke(cli, ["backup", "keygen", "--out", str(key)])
        assert made.exit_code == 0, made.output
        assert os.stat(key).st_mode & 0o777 == 0o600
        public = made.stdout.strip()
        assert public.startswith("age1") and public in key.read_text()

        out = tmp_path / "tabard.backup"
        neither = runner.invoke(cli, ["backup", "create", "--out", str(out)])
        assert neither.exit_code == 1 and "--recipient" in neither.stderr
        created = runner.invoke(
            cli, ["backup", "create", "--out", str(out), "--recipient", public, "--json"]
        )
        assert created.exit_code == 0, created.output
        assert json.loads(created.stdout)["dialect"] == installs.backend
        again = runner.invoke(cli, ["backup", "create", "--out", str(out), "--recipient", public])
        assert again.exit_code == 1 and "exists" in again.stderr

        checked = runner.invoke(cli, ["backup", "verify", str(out), "--identity", str(key)])
        assert checked.exit_code == 0, checked.output
        assert "The backup verifies" in checked.stdout
        unopened = runner.invoke(cli, ["backup", "verify", str(out)])
        assert unopened.exit_code == 1 and "--identity" in unopened.stderr

        fresh = installs.settings("restored")
        monkeypatch.setenv("TABARD_DATA_DIR", str(fresh.data_dir))
        monkeypatch.setenv("TABARD_DATABASE_URL", fresh.effective_database_url)
        restored = runner.invoke(cli, ["backup", "restore", str(out), "--identity", str(key)])
        assert restored.exit_code == 0, restored.output
        assert events(installs.opened(fresh)) == events(live)
