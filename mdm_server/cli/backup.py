"""`tabard backup keygen|create|verify|restore`, run on the server host against the database
and data directory that TABARD_* settings name (docs/operations.md, Backup and restore)."""

from __future__ import annotations

import os
from contextlib import nullcontext
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mdm_server.cli.server import load_settings, schema_problem
from tabard.output import fail, print_json, read_secret_stdin, stderr, stdout, table, when

if TYPE_CHECKING:
    from mdm_server.backup import Decryption, Summary

backup_app = typer.Typer(
    help="Encrypted backups of the database and the data directory's keys.", no_args_is_help=True
)
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
PassphraseOption = Annotated[
    bool,
    typer.Option(
        "--passphrase-stdin", help="Read a passphrase from standard input instead of a key."
    ),
]
IdentityOption = Annotated[
    Path | None,
    typer.Option(
        "--identity",
        help="The age secret key file that opens the backup (from `tabard backup keygen`).",
    ),
]


def _decryption(identity: Path | None, passphrase_stdin: bool) -> Decryption:
    from mdm_server.backup import Decryption

    if identity is not None and passphrase_stdin:
        fail("give --identity or --passphrase-stdin, not both")
    if identity is not None:
        try:
            lines = identity.read_text().splitlines()
        except OSError as exc:
            fail(f"cannot read {identity}: {exc.strerror}")
        keys = tuple(line.strip() for line in lines if line.startswith("AGE-SECRET-KEY-"))
        if not keys:
            fail(f"{identity} holds no age secret key (AGE-SECRET-KEY-1...)")
        return Decryption(identities=keys)
    if passphrase_stdin:
        return Decryption(passphrase=read_secret_stdin("passphrase"))
    fail("give --identity FILE or --passphrase-stdin to open the backup")


@backup_app.command("keygen")
def keygen(
    out: Annotated[Path, typer.Option("--out", help="Where to write the secret key (0600).")],
) -> None:
    """Make an age key pair for backups: the secret key goes to --out (keep it off the server,
    where a thief of the backups cannot reach it); the public key is printed, for --recipient."""
    import pyrage

    identity = pyrage.x25519.Identity.generate()
    public = str(identity.to_public())
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        fail(f"{out} exists: choose another file")
    with os.fdopen(fd, "w") as handle:
        handle.write(f"# public key: {public}\n{identity}\n")
    stdout.print(public, highlight=False)


@backup_app.command("create")
def create(
    out: Annotated[Path, typer.Option("--out", help="The backup file to write (0600).")],
    recipient: Annotated[
        list[str] | None,
        typer.Option(
            "--recipient", help="An age public key (age1...) that may open it; repeatable."
        ),
    ] = None,
    passphrase_stdin: PassphraseOption = False,
    json_output: JsonOption = False,
) -> None:
    """Back up the database (a consistent snapshot, while the server runs) with the data
    directory's keys, published checkpoint and APKs, encrypted to the recipients or under a
    passphrase."""
    from mdm_server.backup import BackupError, Encryption
    from mdm_server.backup import create as create_backup
    from mdm_server.clock import system_clock

    if bool(recipient) == passphrase_stdin:
        fail("give --recipient age1... (repeatable) or --passphrase-stdin, one of the two")
    encryption = (
        Encryption(recipients=tuple(recipient or ()))
        if recipient
        else Encryption(passphrase=read_secret_stdin("passphrase"))
    )
    settings = load_settings()
    problem = schema_problem(settings)
    if problem:
        fail(problem)
    if out.exists():
        fail(f"{out} exists: choose another file, so no backup is overwritten")
    with stderr.status("backing up", spinner="dots") if stderr.is_terminal else nullcontext():
        try:
            manifest = create_backup(settings, out, encryption, now=system_clock())
        except BackupError as exc:
            fail(str(exc))
    size = out.stat().st_size
    if json_output:
        print_json({"file": str(out), "bytes": size, **manifest})
        return
    stdout.print(
        f"Backed up the {manifest['dialect']} database at schema {manifest['schema']} and "
        f"{len(manifest['files']) - 1} files of the data directory (keys, checkpoint, APKs) "
        f"to {out} ({size:,} bytes, encrypted)."
    )


def _shown(found: Summary, title: str) -> None:
    table(
        title,
        ["taken", "database", "schema", "files", "bytes", "audit events"],
        [
            [
                when(found.created_at),
                found.dialect,
                found.schema,
                found.files,
                f"{found.bytes:,}",
                found.audit_events if found.audit_events is not None else "in the dump",
            ]
        ],
    )


@backup_app.command("verify")
def verify(
    file: Annotated[Path, typer.Argument(help="The backup file.")],
    identity: IdentityOption = None,
    passphrase_stdin: PassphraseOption = False,
    json_output: JsonOption = False,
) -> None:
    """Decrypt the backup and check every file against its manifest, and the database with
    its own tools (SQLite's integrity check; pg_restore --list). Exits 1 naming what is wrong."""
    from mdm_server.backup import BackupError
    from mdm_server.backup import verify as verify_backup

    decryption = _decryption(identity, passphrase_stdin)
    try:
        found = verify_backup(file, decryption)
    except BackupError as exc:
        fail(str(exc))
    if json_output:
        print_json(asdict(found))
        return
    _shown(found, "The backup verifies")


@backup_app.command("restore")
def restore(
    file: Annotated[Path, typer.Argument(help="The backup file.")],
    identity: IdentityOption = None,
    passphrase_stdin: PassphraseOption = False,
) -> None:
    """Restore onto an empty data directory (TABARD_DATA_DIR) and an empty database
    (TABARD_DATABASE_URL) of the backup's kind. Then run `tabard db upgrade` and `tabard audit
    verify` before starting the server."""
    from mdm_server.backup import BackupError
    from mdm_server.backup import restore as restore_backup

    decryption = _decryption(identity, passphrase_stdin)
    settings = load_settings()
    try:
        found = restore_backup(
            file,
            settings,
            decryption,
            progress=lambda step: stderr.print(f"restoring {step}", highlight=False),
        )
    except BackupError as exc:
        fail(str(exc))
    _shown(found, "Restored")
    stdout.print("Next: tabard db upgrade, then tabard audit verify, then start the server.")
