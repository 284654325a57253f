"""`tabard mash queue|show|rate|decide`: the MASH team's safeguarding queue over the API
(docs/safeguarding.md). Every read and change is audited by the server."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.text import Text

from mdm_server.cli.accounts import JsonOption, api_errors
from mdm_server.cli.session import StaffClient, segment
from mdm_server.safeguarding.words import (
    AT_RISK_WORDS,
    decision_words,
    due,
    rating_words,
    span,
)
from tabard.output import empty, fail, fields, print_json, stdout, styled, table, when

mash_app = typer.Typer(
    help="The safeguarding (MASH) queue: triage and decide referrals (MASH team).",
    no_args_is_help=True,
)
QUEUE = "/api/v1/safeguarding/referrals"
RATING_STYLE = {"red": "bold red", "amber": "yellow", "green": "green"}

Reference = Annotated[str, typer.Argument(help="The referral's reference, as the queue shows.")]
Reason = Annotated[str, typer.Option(help="Why, in words (kept with the referral and audited).")]


class Showing(StrEnum):
    waiting = "waiting"
    overdue = "overdue"
    decided = "decided"
    all = "all"


class Rating(StrEnum):
    red = "red"
    amber = "amber"
    green = "green"


class Decision(StrEnum):
    childrens_social_care = "childrens_social_care"
    adults_social_care = "adults_social_care"
    police_action = "police_action"
    no_further_action = "no_further_action"


def _rating(value: str | None) -> Text:
    return styled(rating_words(value), RATING_STYLE.get(value or "", "dim"))


def _due(item: dict[str, Any], triage_hours: int) -> Text:
    words = due(item["age_s"], triage_hours, decided=item["decision"] is not None)
    return styled(words, "bold red" if item["overdue"] else "")


@mash_app.command("queue")
def mash_queue(
    showing: Annotated[Showing, typer.Option(help="Which referrals.")] = Showing.waiting,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 100,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    json_output: JsonOption = False,
) -> None:
    """The queue: waiting referrals oldest first, with their age against the deadline."""
    query = {"showing": showing.value, "limit": limit, "offset": offset}
    with api_errors():
        page = StaffClient.from_stored().get(QUEUE, params=query)
    if json_output:
        print_json(page)
        return
    if not page["items"]:
        empty("No referrals." if showing == Showing.all else f"No {showing.value} referrals.")
        return
    hours = page["triage_hours"]
    shown = f"{offset + 1}-{offset + len(page['items'])} of {page['total']}"
    table(
        f"Safeguarding referrals, {showing.value} ({shown}; decide within {hours} h)",
        ["reference", "at risk", "name", "age", "deadline", "rating", "decision", "raised by"],
        [
            [
                item["reference"],
                AT_RISK_WORDS[item["at_risk"]],
                f"{item['forename']} {item['surname']}",
                span(item["age_s"]),
                _due(item, hours),
                _rating(item["rating"]),
                decision_words(item["decision"]),
                item["raised_by"],
            ]
            for item in page["items"]
        ],
        keep_whole=("reference", "deadline"),
    )


def _show(referral: dict[str, Any]) -> None:
    allowed = datetime.fromisoformat(referral["deadline"]) - datetime.fromisoformat(
        referral["raised_at"]
    )
    hours = round(allowed.total_seconds() / 3600)
    fields(
        f"Safeguarding referral {referral['reference']}",
        [
            ("at risk", AT_RISK_WORDS[referral["at_risk"]]),
            ("name", f"{referral['forename']} {referral['surname']}"),
            ("date of birth", referral["date_of_birth"] or "not given"),
            ("concerns", referral["concerns"]),
            ("people involved", referral["people_involved"] or "none given"),
            ("immediate actions", referral["immediate_actions"]),
            ("location", referral["location"]),
            ("raised by", f"{referral['raised_by']} ({referral['division'] or 'no division'})"),
            ("raised", when(referral["raised_at"])),
            ("age", span(referral["age_s"])),
            ("deadline", f"{when(referral['deadline'])}: {_due(referral, hours).plain}"),
            ("rating", _rating(referral["rating"])),
            ("rating reason", referral["rating_reason"] or ""),
            ("rated", _by(referral["rated_by"], referral["rated_at"])),
            ("decision", decision_words(referral["decision"])),
            ("decision reasons", referral["decision_reason"] or ""),
            ("decided", _by(referral["decided_by"], referral["decided_at"])),
        ],
    )


def _by(who: str | None, at: str | None) -> str:
    return f"{when(at)} by {who}" if who and at else ""


@mash_app.command("show")
def mash_show(reference: Reference, json_output: JsonOption = False) -> None:
    """One referral in full (the read is audited)."""
    with api_errors():
        referral = StaffClient.from_stored().get(f"{QUEUE}/{segment(reference)}")
    if json_output:
        print_json(referral)
        return
    _show(referral)


def _reason(reason: str) -> str:
    if not reason.strip():
        fail("--reason: say why, in words")
    return reason


@mash_app.command("rate")
def mash_rate(
    reference: Reference, rating: Rating, reason: Reason, json_output: JsonOption = False
) -> None:
    """Rate a waiting referral red, amber or green."""
    body = {"rating": rating.value, "reason": _reason(reason)}
    with api_errors():
        referral = StaffClient.from_stored().post(f"{QUEUE}/{segment(reference)}/rating", json=body)
    if json_output:
        print_json(referral)
        return
    stdout.print(f"Referral {referral['reference']} is rated {rating_words(referral['rating'])}.")


@mash_app.command("decide")
def mash_decide(
    reference: Reference, decision: Decision, reason: Reason, json_output: JsonOption = False
) -> None:
    """Record the decision on a rated referral (once only)."""
    body = {"decision": decision.value, "reason": _reason(reason)}
    with api_errors():
        referral = StaffClient.from_stored().post(
            f"{QUEUE}/{segment(reference)}/decision", json=body
        )
    if json_output:
        print_json(referral)
        return
    stdout.print(f"Referral {referral['reference']}: {decision_words(referral['decision'])}.")
