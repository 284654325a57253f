"""`tabard keys rotate ...`: replacing the server's keys on a running system without
re-enrolling a device, run on the server host with the server's TABARD_* settings
(docs/operations.md, Key rotation)."""

from __future__ import annotations

import typer

keys_app = typer.Typer(help="The server's keys: rotate them while it runs.", no_args_is_help=True)
rotate_app = typer.Typer(
    help="Replace one of the server's keys; the running server follows without a restart.",
    no_args_is_help=True,
)
keys_app.add_typer(rotate_app, name="rotate")
