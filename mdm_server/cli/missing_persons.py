"""`tabard missing-persons ...`: the missing-persons unit's board and its work on a case over
the API (docs/missing-persons.md). Every read and every change is audited by the server."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.text import Text

from mdm_server.cli.accounts import JsonOption, api_errors
from mdm_server.cli.session import StaffClient, segment
from mdm_server.missing_persons.cases import RISK_WORDS, missing_for
from tabard.output import empty, fields, print_json, stdout, styled, table, when

missing_persons_app = typer.Typer(
    help="Missing-person cases: the board, regrading, reviews and closing (missing-persons unit).",
    no_args_is_help=True,
)

RISK_STYLE = {"high": "bold red", "medium": "yellow", "low": "", "no_apparent_risk": "dim"}
BOARD = "/api/v1/missing-persons"

Reference = Annotated[str, typer.Argument(help="The case's reference, as the board shows it.")]
Reason = Annotated[str, typer.Option(help="Why, in 3 to 500 characters (kept on the case).")]


class Risk(StrEnum):
    high = "high"
    medium = "medium"
    low = "low"
    no_apparent_risk = "no_apparent_risk"


class Shown(StrEnum):
    open = "open"
    closed = "closed"
    all = "all"


class Outcome(StrEnum):
    found = "found"
    withdrawn = "withdrawn"


def risk(value: str) -> Text:
    return styled(RISK_WORDS.get(value, value), RISK_STYLE.get(value, ""))


def review(case: dict[str, Any]) -> Text:
    if case["review_overdue"]:
        return styled(f"OVERDUE since {when(case['review_due_at'])}", "bold red")
    if case["review_due_at"] is None:
        return Text("none (closed)")
    return Text(f"due {when(case['review_due_at'])}")


@missing_persons_app.command("board")
def board(
    status: Annotated[Shown, typer.Option(help="open (and found), closed or all.")] = Shown.open,
    json_output: JsonOption = False,
) -> None:
    """Open cases by risk, then by how long the person has been missing; overdue reviews
    marked."""
    with api_errors():
        shown = StaffClient.from_stored().get(BOARD, params={"status": status.value})
    if json_output:
        print_json(shown)
        return
    if not shown["cases"]:
        empty(f"No {status.value} cases." if status != Shown.all else "No cases.")
        return
    table(
        f"Missing persons, {status.value} ({len(shown['cases'])}; {shown['overdue']} overdue "
        "for review)",
        ["reference", "risk", "status", "name", "missing for", "last seen", "assigned", "review"],
        [
            [
                case["reference"],
                risk(case["risk"]),
                case["status"],
                f"{case['forename']} {case['surname']}",
                missing_for(case["missing_for_s"]),
                case["last_seen_location"],
                case["assigned_to"] or "nobody",
                review(case),
            ]
            for case in shown["cases"]
        ],
        keep_whole=("risk", "missing for"),
    )


def show_case(case: dict[str, Any]) -> None:
    fields(
        f"Case {case['reference']}",
        [
            ("name", f"{case['forename']} {case['surname']}"),
            ("born", case["date_of_birth"] or "not known"),
            ("risk", risk(case["risk"])),
            ("status", case["status"] + (f" ({case['outcome']})" if case["outcome"] else "")),
            ("last seen", f"{when(case['last_seen_at'])}, {case['last_seen_location']}"),
            ("missing for", missing_for(case["missing_for_s"])),
            ("description", case["description"]),
            ("reported by", case["reported_by"]),
            ("assigned to", case["assigned_to"] or "nobody"),
            ("division", case["division"] or "none"),
            ("review", review(case)),
        ],
    )
    table(
        "Timeline",
        ["at", "what", "by", "note"],
        [
            [when(entry["at"]), _what(entry), entry["by"], entry["note"] or ""]
            for entry in case["timeline"]
        ],
        keep_whole=("at",),
    )


def _what(entry: dict[str, Any]) -> str:
    kind: str = str(entry["kind"]).replace("_", " ")
    detail = entry["detail"]
    if entry["kind"] == "regraded":
        return f"regraded {RISK_WORDS[detail['from']]} → {RISK_WORDS[detail['to']]}"
    if entry["kind"] == "assigned":
        return f"assigned to {detail['to']}"
    if entry["kind"] == "closed":
        return f"closed ({detail['outcome']})"
    if "location" in detail:
        return f"{kind} at {detail['location']}"
    return kind


@missing_persons_app.command("show")
def show(reference: Reference, json_output: JsonOption = False) -> None:
    """A case with its timeline (the read is audited)."""
    with api_errors():
        case = StaffClient.from_stored().get(f"{BOARD}/{segment(reference)}")
    if json_output:
        print_json(case)
    else:
        show_case(case)


def _act(reference: str, action: str, body: dict[str, Any], json_output: bool, said: str) -> None:
    with api_errors():
        case = StaffClient.from_stored().post(f"{BOARD}/{segment(reference)}/{action}", json=body)
    if json_output:
        print_json(case)
    else:
        due = when(case["review_due_at"]) if case["review_due_at"] else "never (closed)"
        risk_words = RISK_WORDS.get(case["risk"], case["risk"])
        stdout.print(said.format(**{**case, "review_due_at": due, "risk": risk_words}))


@missing_persons_app.command("regrade")
def regrade(
    reference: Reference,
    to: Annotated[Risk, typer.Option("--risk", help="The new grade.")],
    reason: Reason,
    json_output: JsonOption = False,
) -> None:
    """Grade a case's risk anew."""
    body = {"risk": to.value, "reason": reason}
    _act(reference, "regrade", body, json_output, "{reference} is now graded {risk}.")


@missing_persons_app.command("assign")
def assign(
    reference: Reference,
    officer: Annotated[str, typer.Option("--officer", help="The officer's collar number.")],
    reason: Annotated[str | None, typer.Option(help="Why, if worth saying.")] = None,
    json_output: JsonOption = False,
) -> None:
    """Give a case to an officer."""
    body = {"collar_number": officer, **({"reason": reason} if reason else {})}
    _act(reference, "assign", body, json_output, "{reference} is assigned to {assigned_to}.")


@missing_persons_app.command("review")
def add_review(
    reference: Reference,
    note: Annotated[str, typer.Option(help="What the review found and decided.")],
    json_output: JsonOption = False,
) -> None:
    """Record a review of a case; the next falls due by its risk."""
    said = "Review recorded on {reference}; the next is due {review_due_at}."
    _act(reference, "reviews", {"note": note}, json_output, said)


@missing_persons_app.command("close")
def close(
    reference: Reference,
    reason: Reason,
    outcome: Annotated[Outcome, typer.Option(help="found, or withdrawn.")] = Outcome.found,
    json_output: JsonOption = False,
) -> None:
    """Close a case, as found or withdrawn."""
    body = {"outcome": outcome.value, "reason": reason}
    _act(reference, "close", body, json_output, "{reference} is closed ({outcome}).")
