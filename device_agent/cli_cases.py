"""`tabard agent --state DIR report sighting|welfare-check|found|cases ...`: an officer's work
on missing-person cases they reported or are assigned, from the secure side. Each is a
transaction with its purpose, audited by the server like any other."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from device_agent.cli_secure import JsonOption
from device_agent.cli_transactions import Incident, Purpose, moment, report_app, send
from tabard.output import fields, stdout, table, when

Reference = Annotated[str, typer.Argument(help="The case's reference, as given on filing.")]
Note = Annotated[str, typer.Option(help="What was seen or done.")]
Location = Annotated[str | None, typer.Option(help="Where.")]
SeenAt = Annotated[str | None, typer.Option(help="When seen, e.g. 2026-11-21T18:00Z.")]


def _update(
    ctx: typer.Context,
    kind: str,
    reference: str,
    note: str,
    location: str | None,
    seen_at: str | None,
    purpose: str,
    incident: str | None,
    json_output: bool,
) -> None:
    update: dict[str, Any] = {"reference": reference, "kind": kind, "note": note}
    if location:
        update["location"] = location
    if seen_at:
        update["seen_at"] = moment(seen_at)
    result = send(
        ctx,
        "missing_person_update",
        purpose=purpose,
        incident=incident,
        json_output=json_output,
        update=update,
    )
    if result is not None:
        stdout.print(
            f"{kind.replace('_', ' ').capitalize()} added to [bold]{result['reference']}[/] "
            f"(now {result['status']})."
        )


@report_app.command("sighting")
def report_sighting(
    ctx: typer.Context,
    reference: Reference,
    note: Note,
    purpose: Purpose,
    location: Location = None,
    seen_at: SeenAt = None,
    incident: Incident = None,
    json_output: JsonOption = False,
) -> None:
    """Add a sighting to a missing-person case you reported or are assigned."""
    _update(ctx, "sighting", reference, note, location, seen_at, purpose, incident, json_output)


@report_app.command("welfare-check")
def report_welfare_check(
    ctx: typer.Context,
    reference: Reference,
    note: Note,
    purpose: Purpose,
    location: Location = None,
    incident: Incident = None,
    json_output: JsonOption = False,
) -> None:
    """Add a welfare check to a missing-person case you reported or are assigned."""
    _update(ctx, "welfare_check", reference, note, location, None, purpose, incident, json_output)


@report_app.command("found")
def report_found(
    ctx: typer.Context,
    reference: Reference,
    note: Note,
    purpose: Purpose,
    location: Location = None,
    seen_at: SeenAt = None,
    incident: Incident = None,
    json_output: JsonOption = False,
) -> None:
    """Say the missing person is found; the missing-persons unit closes the case."""
    _update(ctx, "found", reference, note, location, seen_at, purpose, incident, json_output)


@report_app.command("cases")
def report_cases(
    ctx: typer.Context,
    purpose: Purpose,
    reference: Annotated[str | None, typer.Argument(help="One case, with its timeline.")] = None,
    incident: Incident = None,
    json_output: JsonOption = False,
) -> None:
    """The missing-person cases you reported or are assigned, or one of them in full."""
    query = {"reference": reference} if reference else {}
    result = send(
        ctx,
        "missing_person_cases",
        purpose=purpose,
        incident=incident,
        json_output=json_output,
        query=query,
    )
    if result is None:
        return
    if "case" in result:
        case = result["case"]
        fields(
            f"Case {case['reference']}",
            [
                ("name", f"{case['forename']} {case['surname']}"),
                ("risk", case["risk"].replace("_", " ")),
                ("status", case["status"]),
                ("last seen", f"{when(case['last_seen_at'])}, {case['last_seen_location']}"),
                ("assigned to", case["assigned_to"] or "nobody yet"),
            ],
        )
        table(
            "Timeline",
            ["at", "what", "by", "note"],
            [
                [when(e["at"]), e["kind"].replace("_", " "), e["by"], e["note"] or ""]
                for e in case["timeline"]
            ],
        )
        return
    if not result["cases"]:
        stdout.print("No cases you reported or are assigned.")
        return
    table(
        "Your missing-person cases",
        ["reference", "name", "risk", "status", "last seen"],
        [
            [
                c["reference"],
                f"{c['forename']} {c['surname']}",
                c["risk"].replace("_", " "),
                c["status"],
                when(c["last_seen_at"]),
            ]
            for c in result["cases"]
        ],
    )
