"""`tabard agent --state DIR search|report ...`: police transactions through the running
agent's open secure session, each with its purpose code (and incident reference where policy
requires one)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

import typer

from device_agent.cli_secure import JsonOption, agent_call
from tabard.output import fields, print_json, readable, stdout, table, when

search_app = typer.Typer(help="Searches through the secure side.", no_args_is_help=True)
report_app = typer.Typer(help="Reports through the secure side.", no_args_is_help=True)

Purpose = Annotated[str, typer.Option(help="Purpose code, e.g. INVESTIGATION.")]
Incident = Annotated[str | None, typer.Option("--incident", help="Incident reference.")]


def send(
    ctx: typer.Context,
    kind: str,
    *,
    purpose: str,
    incident: str | None,
    json_output: bool,
    **parts: dict[str, Any] | None,
) -> dict[str, Any] | None:
    """Send one transaction through the agent, its `query`, `report`, `update` or `annotation`
    given by name; its result for a person to read, or None once printed as JSON. Options left
    unset are left out."""
    body: dict[str, Any] = {"type": kind, "purpose": purpose}
    if incident is not None:
        body["incident_reference"] = incident
    for name, content in parts.items():
        if content is not None:
            body[name] = {key: value for key, value in content.items() if value is not None}
    answer = agent_call(ctx, "transaction", body=body)
    if json_output:
        print_json(answer)
        return None
    if "draft" in answer:  # offline: the report waits in the container for the server
        stdout.print(f"[bold yellow]No signal:[/] the report was {answer['message']}.")
        return None
    recorded = when(answer["recorded_at"])
    stdout.print(f"[dim]Recorded as transaction {answer['transaction_id']} at {recorded}.[/]")
    asked = answer.get("justification")
    if asked:
        stdout.print(
            f"[bold yellow]Further justification requested:[/] {asked['question']}\n"
            f"Answer with: tabard agent justify {asked['id']} --answer '...'"
        )
    return dict(answer["result"])


@search_app.command("person")
def search_person(
    ctx: typer.Context,
    surname: Annotated[str, typer.Option()],
    purpose: Purpose,
    forename: Annotated[str | None, typer.Option()] = None,
    date_of_birth: Annotated[str | None, typer.Option("--dob", help="YYYY-MM-DD.")] = None,
    incident: Incident = None,
    json_output: JsonOption = False,
) -> None:
    """Search for a person."""
    query = {"surname": surname, "forename": forename, "date_of_birth": _date(date_of_birth)}
    result = send(
        ctx,
        "person_search",
        purpose=purpose,
        incident=incident,
        json_output=json_output,
        query=query,
    )
    if result is not None:
        table(
            f"People ({len(result['people'])})",
            ["id", "name", "born", "address", "warnings", "wanted"],
            [
                [
                    p["person_id"],
                    f"{p['surname']}, {p['forename']}",
                    p["date_of_birth"],
                    p["address"],
                    ", ".join(p["warning_markers"]),
                    "yes" if p["wanted"] else "",
                ]
                for p in result["people"]
            ],
        )


@search_app.command("vehicle")
def search_vehicle(
    ctx: typer.Context,
    registration: Annotated[str, typer.Option(help="Registration mark, e.g. 'AB12 CDE'.")],
    purpose: Purpose,
    incident: Incident = None,
    json_output: JsonOption = False,
) -> None:
    """Search for a vehicle by its registration mark."""
    result = send(
        ctx,
        "vehicle_search",
        purpose=purpose,
        incident=incident,
        json_output=json_output,
        query={"registration": registration},
    )
    if result is not None:
        table(
            f"Vehicles ({len(result['vehicles'])})",
            ["registration", "vehicle", "colour", "keeper", "insured", "MOT", "stolen"],
            [
                [
                    v["registration"],
                    f"{v['make']} {v['model']} ({v['year']})",
                    v["colour"],
                    v["keeper"],
                    v["insured"],
                    v["mot_valid"],
                    "STOLEN" if v["reported_stolen"] else "",
                ]
                for v in result["vehicles"]
            ],
        )


@search_app.command("incident")
def search_incident(
    ctx: typer.Context,
    reference: Annotated[str, typer.Option(help="The incident's reference.")],
    purpose: Purpose,
    incident: Incident = None,
    json_output: JsonOption = False,
) -> None:
    """Look up an incident."""
    result = send(
        ctx,
        "incident_lookup",
        purpose=purpose,
        incident=incident or reference,
        json_output=json_output,
        query={"reference": reference},
    )
    if result is not None:
        if not result["found"]:
            stdout.print(f"No incident {reference}.")
        else:
            fields(f"Incident {reference}", readable(result["incident"]))


def _date(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise typer.BadParameter(f"'{text}' is not a date (YYYY-MM-DD)") from None


def moment(text: str) -> str:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"'{text}' is not a time (YYYY-MM-DDTHH:MM[Z])") from None
    if moment.tzinfo is None:
        raise typer.BadParameter(f"'{text}' needs a time zone, e.g. {text}Z")
    return moment.isoformat()


def file_report(
    ctx: typer.Context,
    kind: str,
    what: str,
    *,
    purpose: str,
    incident: str | None,
    json_output: bool,
    report: dict[str, Any],
) -> None:
    result = send(
        ctx, kind, purpose=purpose, incident=incident, json_output=json_output, report=report
    )
    if result is not None:
        stdout.print(f"{what} filed as [bold]{result['reference']}[/].")


@report_app.command("incident")
def report_incident(
    ctx: typer.Context,
    summary: Annotated[str, typer.Option()],
    location: Annotated[str, typer.Option()],
    occurred_at: Annotated[str, typer.Option(help="When, e.g. 2026-11-21T02:10Z.")],
    purpose: Purpose,
    category: Annotated[
        str, typer.Option(help="crime, anti_social_behaviour, public_safety, transport or other.")
    ] = "other",
    incident: Incident = None,
    json_output: JsonOption = False,
) -> None:
    """File an incident report."""
    report = {
        "summary": summary,
        "location": location,
        "occurred_at": moment(occurred_at),
        "category": category,
    }
    file_report(
        ctx,
        "incident_report",
        "Incident report",
        purpose=purpose,
        incident=incident,
        json_output=json_output,
        report=report,
    )


@report_app.command("missing-person")
def report_missing_person(
    ctx: typer.Context,
    surname: Annotated[str, typer.Option()],
    forename: Annotated[str, typer.Option()],
    last_seen_at: Annotated[str, typer.Option(help="When last seen, e.g. 2026-11-21T18:00Z.")],
    last_seen_location: Annotated[str, typer.Option()],
    description: Annotated[str, typer.Option()],
    risk: Annotated[str, typer.Option(help="no_apparent_risk, low, medium or high.")],
    purpose: Purpose,
    date_of_birth: Annotated[str | None, typer.Option("--dob")] = None,
    incident: Incident = None,
    json_output: JsonOption = False,
) -> None:
    """Register a missing person."""
    report = {
        "surname": surname,
        "forename": forename,
        "date_of_birth": _date(date_of_birth),
        "last_seen_at": moment(last_seen_at),
        "last_seen_location": last_seen_location,
        "description": description,
        "risk": risk,
    }
    file_report(
        ctx,
        "missing_person_report",
        "Missing person report",
        purpose=purpose,
        incident=incident,
        json_output=json_output,
        report=report,
    )


@report_app.command("stop-and-search")
def report_stop_and_search(
    ctx: typer.Context,
    grounds: Annotated[str, typer.Option()],
    object_of_search: Annotated[
        str,
        typer.Option(
            help="drugs, offensive_weapon, stolen_property, going_equipped, firearm or other."
        ),
    ],
    location: Annotated[str, typer.Option()],
    outcome: Annotated[
        str, typer.Option(help="no_further_action, arrest, community_resolution, penalty or other.")
    ],
    purpose: Purpose,
    surname: Annotated[str | None, typer.Option(help="The subject's surname, if given.")] = None,
    forename: Annotated[str | None, typer.Option(help="The subject's forename, if given.")] = None,
    incident: Incident = None,
    json_output: JsonOption = False,
) -> None:
    """Record a stop and search."""
    report = {
        "subject_surname": surname,
        "subject_forename": forename,
        "grounds": grounds,
        "object_of_search": object_of_search,
        "location": location,
        "outcome": outcome,
    }
    file_report(
        ctx,
        "stop_and_search",
        "Stop and search record",
        purpose=purpose,
        incident=incident,
        json_output=json_output,
        report=report,
    )


def justify(
    ctx: typer.Context,
    request_id: Annotated[
        str | None, typer.Argument(help="The request to answer; none lists those waiting.")
    ] = None,
    answer: Annotated[
        str | None, typer.Option(help="Why the transaction was made (10 characters or more).")
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Answer a request for further justification of a transaction (the random sample), or
    list the requests waiting. The answer is recorded in the audit log, once."""
    if request_id is None:
        pending = agent_call(ctx, "justifications")["pending"]
        if json_output:
            print_json(pending)
            return
        table(
            f"Justifications requested ({len(pending)})",
            ["id", "transaction", "asked"],
            [[p["id"], p["transaction_id"], when(p["asked_at"])] for p in pending],
            keep_whole=["id"],
        )
        return
    if not answer:
        raise typer.BadParameter("say why the transaction was made", param_hint="--answer")
    answered = agent_call(ctx, "justify", id=request_id, answer=answer)
    if json_output:
        print_json(answered)
        return
    stdout.print(f"Justification recorded at {when(answered['answered_at'])}.")
