"""Backups (docs/operations.md, Backup and restore): a consistent snapshot of the database with
the data directory's keys, published audit checkpoint and APK store, in one tar file encrypted
with age (pyrage) to a recipient's public key, or under a passphrase.

The data directory's files are read first and the database last, so every checkpoint in the
backup covers events the backup holds. The database snapshot is consistent while the server
runs: SQLite's online backup, or `pg_dump` (one repeatable-read transaction). A backup is
checked whole before anything is restored from it, and a restore goes only onto an empty data
directory and an empty database.

Inside the encryption: `manifest.json` (format, time, schema revision, database kind, and every
other member's size and SHA-256), `database.sqlite3` or `database.pgdump`, and `data/...`.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any

import pyrage
from sqlalchemy import inspect as sqlalchemy_inspect
from sqlalchemy.engine import make_url

from mdm_server.config import Settings
from mdm_server.crypto.keystore import write_private_file
from mdm_server.crypto.master import KEY_FILE as MASTER_KEY_FILE
from mdm_server.crypto.master import key_files as master_key_files
from mdm_server.db import build_engine
from mdm_server.migrate import head_revision

FORMAT = "tabard-backup/1"
MANIFEST = "manifest.json"
DATABASE = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}
DATA = "data"
CHUNK = 1 << 20
# A passphrase backup is encrypted in memory (pyrage's scrypt recipient takes bytes): beyond
# this, use a recipient key, which streams.
PASSPHRASE_LIMIT_BYTES = 2 << 30


class BackupError(Exception):
    """What is wrong, and what to do about it. Never holds a key or a passphrase."""


@dataclass(frozen=True)
class Encryption:
    """Who can open the backup: age recipients (`age1...`), or a passphrase."""

    recipients: tuple[str, ...] = ()
    passphrase: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Decryption:
    """How to open it: age identities (`AGE-SECRET-KEY-1...`), or the passphrase."""

    identities: tuple[str, ...] = field(default=(), repr=False)
    passphrase: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Summary:
    created_at: str
    dialect: str
    schema: str
    files: int
    bytes: int
    audit_events: int | None  # counted in a SQLite snapshot; a PostgreSQL dump is listed


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _dialect(settings: Settings) -> str:
    return make_url(settings.effective_database_url).get_backend_name()


def _libpq_url(settings: Settings) -> str:
    """The database URL as pg_dump and pg_restore take it (no SQLAlchemy driver name)."""
    url = make_url(settings.effective_database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def _data_files(settings: Settings) -> Iterator[tuple[str, Path]]:
    """(name in the backup, path) of what the data directory holds that the database needs:
    keys, the published checkpoint, the APK store."""
    data = settings.data_dir
    for relative in ("keys", "audit", "apks"):
        root = data / relative
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                if relative == "apks" and path.parent.name == "incoming":
                    continue  # half-received uploads
                yield f"{DATA}/{path.relative_to(data).as_posix()}", path


def _snapshot(settings: Settings, destination: Path) -> None:
    dialect = _dialect(settings)
    if dialect == "sqlite":
        source_path = make_url(settings.effective_database_url).database
        if not source_path or not Path(source_path).exists():
            raise BackupError(f"no SQLite database at {source_path}: nothing to back up")
        source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True)
        target = sqlite3.connect(destination)
        try:
            source.backup(target)  # one step: a consistent copy under a read lock
        finally:
            target.close()
            source.close()
        return
    if dialect == "postgresql":
        _run(
            [
                "pg_dump",
                "--format=custom",
                "--no-owner",
                "--no-privileges",
                f"--file={destination}",
                f"--dbname={_libpq_url(settings)}",
            ],
            "pg_dump",
        )
        return
    raise BackupError(f"cannot back up a {dialect} database")


def _run(command: list[str], what: str) -> None:
    if shutil.which(command[0]) is None:
        raise BackupError(f"{what} is not installed: apt-get install postgresql-client")
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        # libpq's messages never repeat the password; the URL is not in them.
        raise BackupError(f"{what} failed: {done.stderr.strip()[-500:]}")


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    archive.addfile(info, io.BytesIO(data))


def create(
    settings: Settings, out: Path, encryption: Encryption, *, now: datetime
) -> dict[str, Any]:
    """Write an encrypted backup to `out` (mode 0600, all or nothing); its manifest."""
    if not encryption.recipients and not encryption.passphrase:
        raise BackupError("give a recipient (--recipient age1...) or a passphrase")
    dialect = _dialect(settings)
    master = settings.keys_dir / MASTER_KEY_FILE
    if not master_key_files(settings.keys_dir):  # master.key, or master.N.key after rotation
        raise BackupError(
            f"the data directory {settings.data_dir} holds no keys ({master} is missing): is "
            "TABARD_DATA_DIR the server's? Without its keys a backup cannot restore devices' "
            "trust or the secure side's data"
        )
    with _workspace() as work:
        files: dict[str, dict[str, Any]] = {}
        tar_path = work / "backup.tar"
        with tarfile.open(tar_path, "w", format=tarfile.PAX_FORMAT) as archive:
            for name, path in _data_files(settings):
                data = path.read_bytes()  # once: the checkpoint may be replaced meanwhile
                files[name] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
                _add_bytes(archive, name, data)
            snapshot = work / DATABASE[dialect]
            _snapshot(settings, snapshot)
            files[snapshot.name] = {"size": snapshot.stat().st_size, "sha256": _sha256(snapshot)}
            archive.add(snapshot, arcname=snapshot.name)
            manifest = {
                "format": FORMAT,
                "created_at": now.isoformat(),
                "dialect": dialect,
                "schema": head_revision(),
                "files": files,
            }
            _add_bytes(archive, MANIFEST, json.dumps(manifest, indent=2).encode())
        _encrypt(tar_path, out, encryption)
    return manifest


@contextmanager
def _workspace() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="tabard-backup-") as work:
        os.chmod(work, 0o700)
        yield Path(work)


def _encrypt(source: Path, out: Path, encryption: Encryption) -> None:
    partial = out.with_name(f".{out.name}.partial")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as sink:
            if encryption.recipients:
                try:
                    recipients = [
                        pyrage.x25519.Recipient.from_str(r) for r in encryption.recipients
                    ]
                except pyrage.RecipientError:
                    raise BackupError("a recipient is not an age public key (age1...)") from None
                with source.open("rb") as plain:
                    pyrage.encrypt_io(plain, sink, recipients)
            else:
                assert encryption.passphrase is not None
                if source.stat().st_size > PASSPHRASE_LIMIT_BYTES:
                    raise BackupError(
                        "too large to encrypt under a passphrase (over 2 GiB): give a "
                        "recipient key (tabard backup keygen) instead"
                    )
                sink.write(pyrage.passphrase.encrypt(source.read_bytes(), encryption.passphrase))
            sink.flush()
            os.fsync(sink.fileno())
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)


def _decrypt(path: Path, decryption: Decryption, sink: IO[bytes]) -> None:
    try:
        if decryption.identities:
            identities = [pyrage.x25519.Identity.from_str(i) for i in decryption.identities]
            with path.open("rb") as sealed:
                pyrage.decrypt_io(sealed, sink, identities)
        elif decryption.passphrase:
            sink.write(pyrage.passphrase.decrypt(path.read_bytes(), decryption.passphrase))
        else:
            raise BackupError("give the identity file (--identity) or the passphrase")
    except pyrage.IdentityError:
        raise BackupError("the identity is not an age secret key (AGE-SECRET-KEY-1...)") from None
    except (pyrage.DecryptError, OSError):  # a damaged stream surfaces as OSError
        raise BackupError(
            "cannot decrypt: not a Tabard backup, damaged, or the wrong key or passphrase"
        ) from None


@contextmanager
def opened(path: Path, decryption: Decryption) -> Iterator[tuple[dict[str, Any], Path]]:
    """The backup decrypted and checked whole: its manifest, and a directory holding its
    members. BackupError names the first thing wrong."""
    if not path.is_file():
        raise BackupError(f"no backup at {path}")
    with _workspace() as work:
        tar_path = work / "backup.tar"
        with tar_path.open("wb") as sink:
            _decrypt(path, decryption, sink)
        members = work / "members"
        members.mkdir(mode=0o700)
        try:
            with tarfile.open(tar_path) as archive:
                names = [_checked_name(member) for member in archive.getmembers()]
                archive.extractall(members, filter="data")
        except tarfile.TarError as exc:
            raise BackupError(f"not a readable backup: {exc}") from None
        tar_path.unlink()
        manifest = _manifest(members)
        expected = set(manifest["files"]) | {MANIFEST}
        if set(names) != expected:
            extra = sorted(set(names) - expected)
            missing = sorted(expected - set(names))
            raise BackupError(f"the backup's files differ from its manifest: {extra or missing}")
        for name, described in manifest["files"].items():
            if _sha256(members / name) != described["sha256"]:
                raise BackupError(f"{name} in the backup is damaged: its SHA-256 differs")
        yield manifest, members


def _checked_name(member: tarfile.TarInfo) -> str:
    name = PurePosixPath(member.name)
    if not member.isfile() or name.is_absolute() or ".." in name.parts:
        raise BackupError(f"the backup holds {member.name!r}, which a backup never does")
    return member.name


def _manifest(members: Path) -> dict[str, Any]:
    try:
        manifest: dict[str, Any] = json.loads((members / MANIFEST).read_text())
    except (OSError, ValueError):
        raise BackupError("not a Tabard backup: it has no readable manifest") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"not a {FORMAT} backup: {manifest.get('format')!r}")
    if manifest.get("dialect") not in DATABASE:
        raise BackupError(f"a backup of an unknown database kind: {manifest.get('dialect')!r}")
    return manifest


def summary(manifest: dict[str, Any], members: Path) -> Summary:
    """What the backup holds, with its database checked as its own tools would."""
    snapshot = members / DATABASE[manifest["dialect"]]
    events = None
    if manifest["dialect"] == "sqlite":
        connection = sqlite3.connect(f"file:{snapshot}?mode=ro", uri=True)
        try:
            (verdict,) = connection.execute("PRAGMA integrity_check").fetchone()
            if verdict != "ok":
                raise BackupError(
                    f"the database in the backup fails its integrity check: {verdict}"
                )
            (events,) = connection.execute("SELECT count(*) FROM audit_events").fetchone()
        finally:
            connection.close()
    else:
        _run(["pg_restore", "--list", str(snapshot)], "pg_restore --list")
    return Summary(
        created_at=manifest["created_at"],
        dialect=manifest["dialect"],
        schema=manifest["schema"],
        files=len(manifest["files"]),
        bytes=sum(described["size"] for described in manifest["files"].values()),
        audit_events=events,
    )


def verify(path: Path, decryption: Decryption) -> Summary:
    with opened(path, decryption) as (manifest, members):
        return summary(manifest, members)


def restore(
    path: Path, settings: Settings, decryption: Decryption, progress: Callable[[str], None]
) -> Summary:
    """Restore onto an empty data directory and an empty database of the backup's kind."""
    with opened(path, decryption) as (manifest, members):
        found = summary(manifest, members)
        dialect = _dialect(settings)
        if dialect != manifest["dialect"]:
            raise BackupError(
                f"this is a {manifest['dialect']} backup and TABARD_DATABASE_URL names a "
                f"{dialect} database: restore onto the same kind"
            )
        _refuse_unless_empty(settings)
        written: list[Path] = []
        try:
            progress("keys and files")
            for name in manifest["files"]:
                if name.startswith(f"{DATA}/"):
                    target = settings.data_dir / PurePosixPath(name).relative_to(DATA)
                    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                    write_private_file(target, (members / name).read_bytes())
                    written.append(target)
            progress("database")
            _restore_database(settings, members / DATABASE[dialect], written)
        except BaseException:
            for target in written:
                target.unlink(missing_ok=True)
            raise
        return found


def _refuse_unless_empty(settings: Settings) -> None:
    held = [name for name, _ in _data_files(settings)]
    if held:
        raise BackupError(
            f"the data directory {settings.data_dir} already holds {held[0]} "
            f"({len(held)} files): restore onto an empty one"
        )
    if _dialect(settings) == "sqlite":
        database = make_url(settings.effective_database_url).database
        if database and Path(database).exists() and Path(database).stat().st_size > 0:
            raise BackupError(f"the SQLite database {database} exists: restore onto none")
        return
    engine = build_engine(settings)
    try:
        tables = sqlalchemy_inspect(engine).get_table_names()
    finally:
        engine.dispose()
    if tables:
        raise BackupError(
            f"the database already holds {len(tables)} tables: restore onto an empty one"
        )


def _restore_database(settings: Settings, snapshot: Path, written: list[Path]) -> None:
    if _dialect(settings) == "sqlite":
        database = Path(make_url(settings.effective_database_url).database or "")
        database.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        partial = database.with_name(f".{database.name}.restoring")
        shutil.copyfile(snapshot, partial)
        os.chmod(partial, 0o600)
        os.replace(partial, database)
        written.append(database)
        return
    _run(
        [
            "pg_restore",
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            "--single-transaction",
            f"--dbname={_libpq_url(settings)}",
            str(snapshot),
        ],
        "pg_restore",
    )
