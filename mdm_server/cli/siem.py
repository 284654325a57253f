"""`tabard siem status`: how far the SIEM feed has reached, run on the server host against the
database TABARD_* settings name (docs/operations.md, The SIEM feed)."""

from __future__ import annotations

from typing import Annotated

import typer

from mdm_server.cli.server import server_database
from tabard.output import fail, print_json, styled, table, when

siem_app = typer.Typer(help="The SIEM feed of audit events.", no_args_is_help=True)
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@siem_app.command("status")
def status(json_output: JsonOption = False) -> None:
    """The collector, the last event it took and when, the events still to send, and the
    last failure if the feed is failing. Exits 1 when no feed is set up."""
    from mdm_server.audit import siem

    with server_database() as (settings, database), database.unit_of_work(write=False) as session:
        found = siem.status(session, settings)
    if found is None:
        fail("no SIEM feed is set up: set TABARD_SIEM_URL (docs/operations.md, The SIEM feed)")
    if json_output:
        print_json(
            {
                "target": found.target,
                "last_seq": found.last_seq,
                "head": found.head,
                "backlog": found.backlog,
                "delivered_at": found.delivered_at,
                "failing_since": found.failing_since,
                "last_error": found.last_error,
            }
        )
        return
    state = (
        styled(f"failing since {when(found.failing_since)}", "red")
        if found.failing_since
        else styled("up to date", "green")
        if found.backlog == 0
        else styled("sending", "yellow")
    )
    table(
        "SIEM feed",
        ["collector", "state", "sent up to", "last delivery", "backlog", "last error"],
        [
            [
                found.target,
                state,
                found.last_seq,
                when(found.delivered_at) if found.delivered_at else styled("never", "yellow"),
                found.backlog,
                found.last_error or "",
            ]
        ],
    )
