"""`tabard keys rotate ...`: replacing the server's keys on a running system without
re-enrolling a device, run on the server host with the server's TABARD_* settings
(docs/operations.md, Key rotation)."""

from __future__ import annotations

import os
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mdm_server.cli.server import server_database
from tabard.output import fail, print_json, stderr, stdout, styled, table, when

if TYPE_CHECKING:
    from mdm_server.crypto.ca_rotation import CARotation
    from mdm_server.crypto.command_rotation import Rotation

keys_app = typer.Typer(help="The server's keys: rotate them while it runs.", no_args_is_help=True)
rotate_app = typer.Typer(
    help="Replace one of the server's keys; the running server follows without a restart.",
    no_args_is_help=True,
)
keys_app.add_typer(rotate_app, name="rotate")
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@rotate_app.command("checkpoint")
def checkpoint(json_output: JsonOption = False) -> None:
    """Replace the key the audit log's checkpoints are signed with. The change goes into the
    log, signed by the old key and the new; the old key is destroyed; witnesses and whoever
    holds a bundle follow the change from the old key. Interrupted, run it again: it carries
    on with the same new key."""
    from mdm_server.audit import checkpoints
    from mdm_server.cli.audit import host_log_signer
    from mdm_server.clock import system_clock
    from mdm_server.crypto.keystore import KeyStore

    with server_database() as (settings, database):
        signer, _ = host_log_signer(settings, database)
        try:
            rotated = checkpoints.rotate_key(
                database,
                keys=KeyStore(settings.keys_dir),
                signer=signer,
                data_dir=settings.data_dir,
                now=system_clock(),
            )
        except checkpoints.LogContradictionError as exc:
            fail(f"refused: {exc.detail}")
    if json_output:
        print_json(
            {
                "old_key": rotated.old_key,
                "new_key": rotated.new_key,
                "recorded_at_seq": rotated.seq,
                "checkpoint": rotated.checkpoint.size,
            }
        )
        return
    stdout.print(
        f"[green]The checkpoint key changed.[/] The change is audit event {rotated.seq}; "
        f"checkpoint {rotated.checkpoint.size} is the first the new key signed.",
    )
    table(
        "Checkpoint verifier keys",
        ["", "verifier key"],
        [["before", rotated.old_key], ["now", rotated.new_key]],
    )
    stdout.print(
        "Publish the new verifier key where the force publishes the old one. Witnesses follow "
        "the change by themselves (GET /api/v1/audit/key-changes)."
    )


@rotate_app.command("command-signing")
def rotate_command_signing(
    json_output: JsonOption = False,
) -> None:
    """Replace the key that signs command envelopes. The old key signs a handover naming the
    new certificate, so enrolled devices follow; every worker signs with the new key from
    its next envelope. Audited as `keys.rotated`."""
    from mdm_server.audit.service import Actor, record
    from mdm_server.clock import system_clock
    from mdm_server.crypto import command_rotation
    from mdm_server.crypto.ca_rotation import RotatingDeviceCA
    from mdm_server.crypto.command_signing import KEY_FILE
    from mdm_server.crypto.keystore import KeyStore, KeyStoreError

    with server_database() as (settings, database):
        try:
            keys = KeyStore(settings.keys_dir)
            if not keys.path(KEY_FILE).exists():
                fail(
                    f"{keys.path(KEY_FILE)} does not exist: start the server once "
                    "(`tabard serve`) so it makes its keys, then rotate"
                )
            now = system_clock()
            cas = RotatingDeviceCA.load_or_create(keys, now=now)  # issues from the newest CA
            with database.unit_of_work() as session:
                rotation = command_rotation.rotate(
                    keys, ca=cas, issuer=settings.public_url, now=now
                )
                record(
                    session,
                    actor=Actor.system(f"tabard keys rotate command-signing (uid {os.getuid()})"),
                    action="keys.rotated",
                    now=now,
                    target_type="key",
                    target_id="command-signing",
                    detail={
                        "generation": rotation.generation,
                        "previous_sha256": rotation.previous_sha256,
                        "sha256": rotation.sha256,
                    },
                )
        except KeyStoreError as exc:
            fail(str(exc))
    if json_output:
        print_json(
            {
                "key": "command-signing",
                "generation": rotation.generation,
                "previous_sha256": rotation.previous_sha256,
                "sha256": rotation.sha256,
                "not_valid_after": rotation.not_valid_after.isoformat(),
            }
        )
        return
    stdout.print(
        f"Command-signing key rotated to generation {rotation.generation}.\n"
        f"  new certificate  sha256 {rotation.sha256}\n"
        f"  handed over from sha256 {rotation.previous_sha256}\n"
        f"  valid until      {when(rotation.not_valid_after)}\n"
        "Running workers sign with it from their next envelope; devices follow the handover "
        "published at /api/v1/ca.",
        highlight=False,
        markup=False,
    )


@rotate_app.command("master")
def rotate_master(
    batch: Annotated[
        int, typer.Option("--batch", min=1, help="Secrets rewrapped per transaction.")
    ] = 500,
    max_batches: Annotated[
        int | None,
        typer.Option(
            "--max-batches",
            min=1,
            help="Stop after this many batches, to carry on later by running it again.",
        ),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Make a new master key and rewrap every stored secret under it, in batches; then
    delete the old key file. Interrupted, run it again: it carries on. Take a backup first."""
    from datetime import UTC, datetime

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from mdm_server.ops import master_rotation

    with server_database() as (settings, database):
        total = master_rotation.total_secrets(database)
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=stderr,
            disable=json_output or not stderr.is_terminal,
            transient=True,
        ) as bar:
            task = bar.add_task("starting", total=total)
            try:
                outcome = master_rotation.rotate(
                    database,
                    settings.keys_dir,
                    batch=batch,
                    max_batches=max_batches,
                    now=lambda: datetime.now(UTC),
                    advance=lambda seen: bar.update(task, advance=seen, description="rewrapping"),
                    waiting=lambda: bar.update(task, description="waiting for older transactions"),
                )
            except master_rotation.RotationError as exc:
                fail(str(exc))
    if json_output:
        print_json(asdict(outcome))
        return
    carried = "carried on with" if outcome.resumed else "started"
    stdout.print(
        f"Master key rotation {carried}: {outcome.rewrapped} secrets rewrapped under key "
        f"{outcome.new_key} in {outcome.batches} batches.",
        highlight=False,
    )
    if outcome.finished:
        retired = ", ".join(str(k) for k in outcome.retired) or "none"
        stdout.print(f"[green]Done.[/] Retired key file(s): {retired}.")
    else:
        stdout.print("[yellow]Not finished:[/] run `tabard keys rotate master` again to carry on.")


@keys_app.command("status")
def keys_status(json_output: JsonOption = False) -> None:
    """Where the master key stands: the keys on disk, the secrets under each, and whether a
    rotation is under way."""
    from mdm_server.ops import master_rotation

    with server_database() as (settings, database):
        try:
            found = master_rotation.status(database, settings.keys_dir)
        except master_rotation.RotationError as exc:
            fail(str(exc))
    if json_output:
        print_json(
            {
                "master": {
                    "keys": found.key_ids,
                    "current": found.current,
                    "secrets": {str(k): n for k, n in found.secrets.items()},
                    "remaining": found.remaining,
                    "rotation_in_progress": found.in_progress,
                }
            }
        )
        return
    state = (
        styled(f"rotation under way: {found.remaining} to rewrap", "yellow")
        if found.in_progress
        else styled("no rotation under way", "green")
    )
    table(
        "Master key",
        ["key", "secrets under it", "state"],
        [
            [
                key_id,
                found.secrets.get(key_id, 0),
                "newest"
                if key_id == found.current
                else "retiring"
                if key_id in found.key_ids
                else "not held here",
            ]
            for key_id in sorted(found.secrets)
        ],
    )
    stdout.print(state)


@rotate_app.command("device-ca")
def rotate_device_ca(json_output: JsonOption = False) -> None:
    """Replace the device CA. The old CA issues a link to the new one, so enrolled devices
    follow; a new command-signing generation is issued by the new CA and handed over by the
    old key; every worker issues from the new CA from its next certificate, and the renewal
    job certifies each device again under it. Audited as `keys.rotated` (twice: the CA and
    the command-signing key). Interrupted, run it again: it carries on with the same new CA."""
    from mdm_server.audit.service import Actor, record
    from mdm_server.clock import system_clock
    from mdm_server.crypto import ca_rotation, command_rotation
    from mdm_server.crypto.ca import CA_KEY_FILE
    from mdm_server.crypto.command_signing import KEY_FILE
    from mdm_server.crypto.keystore import KeyStore, KeyStoreError

    with server_database() as (settings, database):
        try:
            keys = KeyStore(settings.keys_dir)
            for name in (CA_KEY_FILE, KEY_FILE):
                if not keys.path(name).exists():
                    fail(
                        f"{keys.path(name)} does not exist: start the server once "
                        "(`tabard serve`) so it makes its keys, then rotate"
                    )
            now = system_clock()
            actor = Actor.system(f"tabard keys rotate device-ca (uid {os.getuid()})")
            cas = ca_rotation.RotatingDeviceCA.load_or_create(keys, now=now)
            held = command_rotation.RotatingCommandSigner.load_or_create(
                keys, ca=cas, issuer=settings.public_url, now=now
            )
            with database.unit_of_work() as session:
                rotation = ca_rotation.interrupted(cas, held.certificate_pem) or ca_rotation.rotate(
                    keys, now=now
                )
                # The command signer's certificate must come from the new CA too: the old
                # key hands over to it, so devices follow as for any command-signing rotation.
                signer = command_rotation.rotate(keys, ca=cas, issuer=settings.public_url, now=now)
                for target, detail in (
                    ("device-ca", _rotated(rotation)),
                    ("command-signing", {**_rotated(signer), "issued_by": rotation.sha256}),
                ):
                    record(
                        session,
                        actor=actor,
                        action="keys.rotated",
                        now=now,
                        target_type="key",
                        target_id=target,
                        detail=detail,
                    )
        except KeyStoreError as exc:
            fail(str(exc))
    _show_device_ca(rotation, signer, json_output=json_output)


def _rotated(rotation: Rotation | CARotation) -> dict[str, Any]:
    return {
        "generation": rotation.generation,
        "previous_sha256": rotation.previous_sha256,
        "sha256": rotation.sha256,
    }


def _show_device_ca(rotation: CARotation, signer: Rotation, *, json_output: bool) -> None:
    if json_output:
        print_json(
            {
                "key": "device-ca",
                **_rotated(rotation),
                "not_valid_after": rotation.not_valid_after.isoformat(),
                "command_signing": _rotated(signer),
            }
        )
        return
    stdout.print(
        f"Device CA rotated to generation {rotation.generation}.\n"
        f"  new CA           sha256 {rotation.sha256}\n"
        f"  linked from      sha256 {rotation.previous_sha256}\n"
        f"  valid until      {when(rotation.not_valid_after)}\n"
        f"Command-signing key rotated to generation {signer.generation}, issued by the new CA.\n"
        "Running workers issue from the new CA at once; new QR codes pin it; devices follow "
        "the link published at /api/v1/ca, and the renewal job (hourly) certifies each "
        "device again under the new CA.",
        highlight=False,
        markup=False,
    )
