"""`tabard audit search`: the auditor's search over the API (docs/audit.md "Searching")."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mdm_server.cli.audit import JsonOption, audit_app, parse_instant, write_private
from tabard.output import plain, print_json, stdout, table, when


def _filters(**given: Any) -> dict[str, Any]:
    return {name: value for name, value in given.items() if value is not None}


def search(
    officer: Annotated[str | None, typer.Option(help="An officer's collar number.")] = None,
    device: Annotated[str | None, typer.Option(help="A device id.")] = None,
    action: Annotated[
        str | None, typer.Option(help="An action, or a prefix ending in '*': 'transaction.*'.")
    ] = None,
    transaction_type: Annotated[
        str | None, typer.Option("--type", help="A transaction type: person_search, ...")
    ] = None,
    purpose: Annotated[str | None, typer.Option(help="A purpose code.")] = None,
    division: Annotated[str | None, typer.Option(help="The officer's division.")] = None,
    start: Annotated[str | None, typer.Option("--from", help="From (ISO date or time).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Until, exclusive.")] = None,
    surname: Annotated[str | None, typer.Option(help="A person searched or recorded.")] = None,
    forename: Annotated[str | None, typer.Option(help="With --surname.")] = None,
    date_of_birth: Annotated[
        str | None, typer.Option("--born", help="With --surname and --forename: YYYY-MM-DD.")
    ] = None,
    registration: Annotated[str | None, typer.Option(help="A vehicle searched.")] = None,
    incident: Annotated[str | None, typer.Option(help="An incident reference.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="Events per page.")] = 50,
    before: Annotated[
        int | None, typer.Option(help="Only events before this sequence number (next page).")
    ] = None,
    csv_out: Annotated[
        Path | None, typer.Option("--csv", help="Write every match (oldest first) as CSV here.")
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--export-json", help="Write every match as JSON here.")
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Search the audit log (auditor; every search is itself audited). Filters combine; one
    subject at a time (a person, a vehicle or an incident)."""
    from mdm_server.cli.accounts import api_errors
    from mdm_server.cli.session import StaffClient

    params = _filters(
        officer=officer,
        device=device,
        action=action,
        type=transaction_type,
        purpose=purpose,
        division=division,
        surname=surname,
        forename=forename,
        date_of_birth=date_of_birth,
        registration=registration,
        incident=incident,
    )
    if start is not None:
        params["from"] = parse_instant(start, "--from")
    if end is not None:
        params["to"] = parse_instant(end, "--to")
    with api_errors():
        client = StaffClient.from_stored()
        for out, output in ((csv_out, "csv"), (json_out, "json")):
            if out is None:
                continue
            data = client.download(
                "/api/v1/audit/search/export", params={**params, "format": output}
            )
            write_private(out, data)
            stdout.print(f"Wrote {out} ({len(data):,} bytes).")
        if csv_out is not None or json_out is not None:
            return
        page = client.get(
            "/api/v1/audit/search",
            params={**params, "limit": limit, **({"before": before} if before else {})},
        )
    if json_output:
        print_json(page)
        return
    _show(page)


def _who(event: dict[str, Any]) -> str:
    actor = event.get("actor") or {}
    collar = (event.get("detail") or {}).get("collar_number")
    name = actor.get("name") or actor.get("type") or ""
    return f"{name} ({collar})" if collar else name


def _what(event: dict[str, Any]) -> str:
    detail = event.get("detail") or {}
    if event["action"].startswith("transaction."):
        parts = [detail.get("purpose"), detail.get("incident_reference"), detail.get("outcome")]
        subject = detail.get("subject") or {}
        summary = ", ".join(plain(value) for value in subject.values())[:60]
        return " · ".join(plain(part) for part in (*parts, summary) if part)
    target = event.get("target") or {}
    return f"{target.get('type')} {target.get('id')}" if target else ""


def event_table(title: str, events: list[dict[str, Any]]) -> None:
    """Audit events (their canonical documents) as a table: who did what, when. A device's
    event also says when it happened on the device; its `time` is when the server received it."""
    from mdm_server.audit.search import device_time

    columns = ["seq", "time", "action", "who", "what"]
    rows: list[list[Any]] = [
        [e["seq"], when(e["time"]), e["action"], _who(e), _what(e)] for e in events
    ]
    on_device = [device_time(e) for e in events]
    if any(on_device):
        columns.insert(2, "on device")
        for row, moment in zip(rows, on_device, strict=True):
            row.insert(2, when(moment))
    table(title, columns, rows, keep_whole=["time", "on device", "action"])


def _show(page: dict[str, Any]) -> None:

    events = page["events"]
    event_table(f"{len(events)} audit events, newest first", events)
    if page["next_before"] is not None:
        stdout.print(f"More: add --before {page['next_before']}")


# `tabard audit search` sits in the audit group; the group is taken from here so that it has it.
audit_app.command("search")(search)
