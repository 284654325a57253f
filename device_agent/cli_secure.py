"""`tabard agent --state DIR secure|search|report ...`: the secure side from the command line,
through the running agent (the same socket the one-button UI uses)."""

from __future__ import annotations

import getpass
import sys
from datetime import date, datetime
from typing import Annotated, Any

import typer

from device_agent.control import AgentAnswerError, call
from device_agent.errors import AgentError
from device_agent.state import AgentState
from tabard.output import fail, fields, print_json, stderr, stdout, table, when

secure_app = typer.Typer(help="Enter and leave the secure side.", no_args_is_help=True)
search_app = typer.Typer(help="Searches through the secure side.", no_args_is_help=True)
report_app = typer.Typer(help="Reports through the secure side.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
Purpose = Annotated[str, typer.Option(help="Purpose code, e.g. INVESTIGATION.")]
Incident = Annotated[str | None, typer.Option("--incident", help="Incident reference.")]


def _call(ctx: typer.Context, op: str, **arguments: Any) -> dict[str, Any]:
    state: AgentState = ctx.obj
    try:
        return call(state, op, **arguments)
    except AgentAnswerError as exc:
        fail(f"{exc} ({exc.code})")
    except AgentError as exc:
        fail(str(exc))


def _read_pins(pin_stdin: bool) -> tuple[str, str | None]:
    """The PIN and, if given, the new PIN: two lines of standard input, or prompts."""
    if not pin_stdin:
        return getpass.getpass("PIN: "), None
    lines = sys.stdin.read().splitlines()
    if not lines or not lines[0]:
        fail("expected the PIN on standard input")
    return lines[0], (lines[1] if len(lines) > 1 and lines[1] else None)


def _show_session(status: dict[str, Any]) -> None:
    fields(
        "Secure side open",
        [
            ("officer", status["officer"]),
            ("online", status["online"]),
            ("until", when(status["session_expires_at"])),
            ("offline use until", when(status["offline_until"])),
        ],
    )


@secure_app.command("enter")
def secure_enter(
    ctx: typer.Context,
    officer: Annotated[str, typer.Option(help="Your collar number.")],
    pin_stdin: Annotated[
        bool,
        typer.Option(
            "--pin-stdin",
            help="Read the PIN from standard input; a second line is the new PIN when one is "
            "required.",
        ),
    ] = False,
    acknowledge: Annotated[
        str | None,
        typer.Option(help="Acknowledge this version of the appropriate-use policy."),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Enter the secure side (the one button)."""
    state: AgentState = ctx.obj
    pin, new_pin = _read_pins(pin_stdin)
    while True:
        try:
            status = call(
                state, "enter", collar=officer, pin=pin, new_pin=new_pin, acknowledge=acknowledge
            )
            break
        except AgentAnswerError as exc:
            if exc.code == "pin_change_required" and new_pin is None and not pin_stdin:
                new_pin = getpass.getpass("Choose a new PIN (6 to 12 digits): ")
                continue
            if exc.code == "acknowledgement_required" and isinstance(exc.detail, dict):
                version = str(exc.detail.get("policy_text_version"))
                stderr.print(
                    f"[bold]Appropriate-use policy {version}[/]\n{exc.detail.get('text', '')}"
                )
                if not pin_stdin and typer.confirm("Do you acknowledge this policy?"):
                    acknowledge = version
                    continue
                fail(f"acknowledge the policy above to enter: add --acknowledge {version}")
            fail(f"{exc} ({exc.code})")
        except AgentError as exc:
            fail(str(exc))
    if json_output:
        print_json(status)
    else:
        _show_session(status)


@secure_app.command("leave")
def secure_leave(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """Leave the secure side: it locks and the container key leaves memory."""
    status = _call(ctx, "leave")
    if json_output:
        print_json(status)
    else:
        stdout.print("Secure side locked.")


def _transaction(
    ctx: typer.Context, body: dict[str, Any], json_output: bool
) -> dict[str, Any] | None:
    answer = _call(ctx, "transaction", body={k: v for k, v in body.items() if v is not None})
    if json_output:
        print_json(answer)
        return None
    recorded = when(answer["recorded_at"])
    stdout.print(f"[dim]Recorded as transaction {answer['transaction_id']} at {recorded}.[/]")
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
    result = _transaction(
        ctx,
        {
            "type": "person_search",
            "purpose": purpose,
            "incident_reference": incident,
            "query": {k: v for k, v in query.items() if v is not None},
        },
        json_output,
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
    result = _transaction(
        ctx,
        {
            "type": "vehicle_search",
            "purpose": purpose,
            "incident_reference": incident,
            "query": {"registration": registration},
        },
        json_output,
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
    result = _transaction(
        ctx,
        {
            "type": "incident_lookup",
            "purpose": purpose,
            "incident_reference": incident or reference,
            "query": {"reference": reference},
        },
        json_output,
    )
    if result is not None:
        if not result["found"]:
            stdout.print(f"No incident {reference}.")
        else:
            fields(f"Incident {reference}", list(result["incident"].items()))


def _date(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _moment(text: str) -> str:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a time (YYYY-MM-DDTHH:MM[Z])") from None
    if moment.tzinfo is None:
        raise typer.BadParameter(f"{text!r} needs a time zone, e.g. {text}Z")
    return moment.isoformat()


def _filed(result: dict[str, Any] | None, what: str) -> None:
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
        "occurred_at": _moment(occurred_at),
        "category": category,
    }
    body = {
        "type": "incident_report",
        "purpose": purpose,
        "incident_reference": incident,
        "report": report,
    }
    _filed(_transaction(ctx, body, json_output), "Incident report")


@report_app.command("missing-person")
def report_missing_person(
    ctx: typer.Context,
    surname: Annotated[str, typer.Option()],
    forename: Annotated[str, typer.Option()],
    last_seen_at: Annotated[str, typer.Option(help="When last seen, e.g. 2026-11-21T18:00Z.")],
    last_seen_location: Annotated[str, typer.Option()],
    description: Annotated[str, typer.Option()],
    risk: Annotated[str, typer.Option(help="low, medium or high.")],
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
        "last_seen_at": _moment(last_seen_at),
        "last_seen_location": last_seen_location,
        "description": description,
        "risk": risk,
    }
    body = {
        "type": "missing_person_report",
        "purpose": purpose,
        "incident_reference": incident,
        "report": {k: v for k, v in report.items() if v is not None},
    }
    _filed(_transaction(ctx, body, json_output), "Missing person report")


@report_app.command("witness")
def report_witness(
    ctx: typer.Context,
    surname: Annotated[str, typer.Option(help="The witness's surname.")],
    forename: Annotated[str, typer.Option(help="The witness's forename.")],
    statement: Annotated[str, typer.Option()],
    purpose: Purpose,
    incident: Incident = None,
    json_output: JsonOption = False,
) -> None:
    """Take a witness statement."""
    report = {"witness_surname": surname, "witness_forename": forename, "statement": statement}
    body = {
        "type": "witness_statement",
        "purpose": purpose,
        "incident_reference": incident,
        "report": report,
    }
    _filed(_transaction(ctx, body, json_output), "Witness statement")


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
    body = {
        "type": "stop_and_search",
        "purpose": purpose,
        "incident_reference": incident,
        "report": {k: v for k, v in report.items() if v is not None},
    }
    _filed(_transaction(ctx, body, json_output), "Stop and search record")
