"""`tabard keys rotate ...`: replacing the server's keys on a running system without
re-enrolling a device, run on the server host with the server's TABARD_* settings
(docs/operations.md, Key rotation)."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from tabard.output import fail, print_json, stdout, when

keys_app = typer.Typer(help="The server's keys: rotate them while it runs.", no_args_is_help=True)
rotate_app = typer.Typer(
    help="Replace one of the server's keys; the running server follows without a restart.",
    no_args_is_help=True,
)
keys_app.add_typer(rotate_app, name="rotate")


@rotate_app.command("command-signing")
def rotate_command_signing(
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Replace the key that signs command envelopes. The old key signs a handover naming the
    new certificate, so enrolled devices follow; every worker signs with the new key from
    its next envelope. Audited as `keys.rotated`."""
    from mdm_server.audit.service import Actor, record
    from mdm_server.cli.server import server_database
    from mdm_server.clock import system_clock
    from mdm_server.crypto import command_rotation
    from mdm_server.crypto.ca import DeviceCA
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
            ca = DeviceCA.load_or_create(keys, now=now, name="Tabard Device CA")
            with database.unit_of_work() as session:
                rotation = command_rotation.rotate(keys, ca=ca, issuer=settings.public_url, now=now)
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
