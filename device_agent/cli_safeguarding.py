"""`tabard agent --state DIR report safeguarding ...`: raising a safeguarding referral for a
child or an adult at risk, for the MASH team to triage. Only the officer who raised it can
read it back (`tabard agent report show REF`)."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated

import typer

from device_agent.cli_secure import JsonOption
from device_agent.cli_transactions import Incident, Purpose, file_report, report_app


class AtRisk(StrEnum):
    child = "child"
    adult = "adult"


@report_app.command("safeguarding")
def report_safeguarding(
    ctx: typer.Context,
    at_risk: Annotated[AtRisk, typer.Option(help="A child (under 18) or an adult at risk.")],
    surname: Annotated[str, typer.Option(help="The surname of the person at risk.")],
    forename: Annotated[str, typer.Option(help="Their forename.")],
    concerns: Annotated[str, typer.Option(help="What you saw or were told that concerns you.")],
    immediate_actions: Annotated[str, typer.Option(help="What you did at once to keep them safe.")],
    location: Annotated[str, typer.Option(help="Where, as an address or a description.")],
    purpose: Purpose = "SAFEGUARDING",
    date_of_birth: Annotated[str | None, typer.Option("--dob", help="YYYY-MM-DD.")] = None,
    people_involved: Annotated[
        str | None, typer.Option(help="Others involved: family, carers, suspects.")
    ] = None,
    incident: Incident = None,
    json_output: JsonOption = False,
) -> None:
    """Raise a safeguarding referral to the MASH team."""
    report = {
        "at_risk": at_risk.value,
        "surname": surname,
        "forename": forename,
        "date_of_birth": _date(date_of_birth),
        "concerns": concerns,
        "people_involved": people_involved,
        "immediate_actions": immediate_actions,
        "location": location,
    }
    file_report(
        ctx,
        "safeguarding_referral",
        "Safeguarding referral",
        purpose=purpose,
        incident=incident,
        json_output=json_output,
        report=report,
    )


def _date(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise typer.BadParameter(
            f"'{text}' is not a date (YYYY-MM-DD)", param_hint="--dob"
        ) from None
