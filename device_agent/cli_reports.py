"""`tabard agent --state DIR report witness|update|annotate|show ...`: taking a signed witness
statement, and working reports once filed: an incident report's update (with a reason), a note
beside a signed witness statement, and reading a report back with its history and, for a
statement, a check of its digest made on this device."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from device_agent.cli_secure import JsonOption
from device_agent.cli_transactions import Incident, Purpose, moment, report_app, send
from device_agent.statements import digest_checks, grouped, read_signature
from tabard.output import fields, readable, stdout, table, when

Reference = Annotated[str, typer.Argument(help="The report's reference, as given on filing.")]


def _signature(path: Path, signed_at: str | None) -> dict[str, Any]:
    try:
        drawn = read_signature(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise typer.BadParameter(
            f"cannot read {path}: {exc.strerror}", param_hint="--signature"
        ) from None
    except ValueError as exc:
        raise typer.BadParameter(f"{path}: {exc}", param_hint="--signature") from None
    if signed_at is not None:
        drawn["signed_at"] = moment(signed_at)
    drawn.setdefault("signed_at", datetime.now(UTC).replace(microsecond=0).isoformat())
    return drawn


@report_app.command("witness")
def report_witness(
    ctx: typer.Context,
    surname: Annotated[str, typer.Option(help="The witness's surname.")],
    forename: Annotated[str, typer.Option(help="The witness's forename.")],
    statement: Annotated[str, typer.Option(help="The statement, exactly as the witness read it.")],
    signature: Annotated[
        Path,
        typer.Option(
            help='The witness\'s signature as JSON: {"width", "height", "strokes": '
            '[[[x, y], ...], ...]}, optionally with "signed_at".'
        ),
    ],
    purpose: Purpose,
    signed_at: Annotated[
        str | None, typer.Option(help="When the witness signed (default: the file's, or now).")
    ] = None,
    incident: Incident = None,
    json_output: JsonOption = False,
) -> None:
    """Take a witness statement the witness has read and signed.

    Once filed it cannot be changed, only annotated."""
    report = {
        "witness_surname": surname,
        "witness_forename": forename,
        "statement": statement,
        "signature": _signature(signature, signed_at),
    }
    result = send(
        ctx,
        "witness_statement",
        purpose=purpose,
        incident=incident,
        json_output=json_output,
        report=report,
    )
    if result is not None:
        stdout.print(
            f"Witness statement filed as [bold]{result['reference']}[/], signed at "
            f"{when(result['signed_at'])}.\n"
            f"Digest: {grouped(result['signature_digest'])}\n"
            "It binds the text, the witness's names, the time signed, your collar number and the "
            f"signature; check it with: tabard agent report show {result['reference']}"
        )


@report_app.command("update")
def report_update(
    ctx: typer.Context,
    reference: Reference,
    reason: Annotated[str, typer.Option(help="Why the report changes (kept with it).")],
    purpose: Purpose,
    summary: Annotated[str | None, typer.Option()] = None,
    location: Annotated[str | None, typer.Option()] = None,
    occurred_at: Annotated[str | None, typer.Option(help="When, e.g. 2026-11-21T02:10Z.")] = None,
    category: Annotated[
        str | None,
        typer.Option(help="crime, anti_social_behaviour, public_safety, transport or other."),
    ] = None,
    incident: Incident = None,
    json_output: JsonOption = False,
) -> None:
    """Update an incident report, giving the reason.

    The fields given change, the rest stay; the report keeps every version with who, when and
    why."""
    changes = {
        "summary": summary,
        "location": location,
        "occurred_at": moment(occurred_at) if occurred_at is not None else None,
        "category": category,
    }
    if all(value is None for value in changes.values()):
        raise typer.BadParameter(
            "say what changes: --summary, --location, --occurred-at or --category"
        )
    body = {
        "reference": reference,
        "changes": {key: value for key, value in changes.items() if value is not None},
        "reason": reason,
    }
    result = send(
        ctx,
        "incident_report_update",
        purpose=purpose,
        incident=incident,
        json_output=json_output,
        update=body,
    )
    if result is not None:
        stdout.print(
            f"Incident report [bold]{result['reference']}[/] is now version {result['version']} "
            f"(changed: {', '.join(result['changed'])})."
        )


@report_app.command("annotate")
def report_annotate(
    ctx: typer.Context,
    reference: Reference,
    note: Annotated[str, typer.Option(help="The note to keep beside the statement.")],
    purpose: Purpose,
    incident: Incident = None,
    json_output: JsonOption = False,
) -> None:
    """Keep a note beside a signed witness statement (which never changes)."""
    result = send(
        ctx,
        "witness_statement_annotation",
        purpose=purpose,
        incident=incident,
        json_output=json_output,
        annotation={"reference": reference, "note": note},
    )
    if result is not None:
        count = result["annotations"]
        stdout.print(
            f"Note kept beside witness statement [bold]{result['reference']}[/] "
            f"({count} note{'s' if count != 1 else ''} now)."
        )


@report_app.command("show")
def report_show(
    ctx: typer.Context,
    reference: Reference,
    purpose: Purpose,
    incident: Incident = None,
    json_output: JsonOption = False,
) -> None:
    """Read a filed report back, with its history.

    For a witness statement, also its signature's digest (checked on this device) and the notes
    beside it."""
    result = send(
        ctx,
        "report_lookup",
        purpose=purpose,
        incident=incident,
        json_output=json_output,
        query={"reference": reference},
    )
    if result is None:
        return
    report = result.get("report")
    if report is None:
        stdout.print(f"No report {reference}.")
        return
    show_report(report)


def show_report(report: dict[str, Any]) -> None:
    """A read-back report for a person: its fields, its history and any signature and notes."""
    kind = str(report["kind"]).replace("_", " ")
    summary = {
        "kind": kind,
        "version": report["version"],
        "filed_by": report["filed_by"],
        "filed_at": report["filed_at"],
    }
    fields(f"{kind.capitalize()} {report['reference']}", readable({**summary, **report["fields"]}))
    table(
        "History",
        ["version", "when", "by", "changed", "why"],
        [
            [v["version"], when(v["at"]), v["by"], ", ".join(v["changed"]) or "filed", v["reason"]]
            for v in report["history"]
        ],
    )
    checks = digest_checks(report)
    if checks is not None:
        verdict = "[green]checks[/]" if checks else "[bold red]DOES NOT CHECK[/]"
        stdout.print(
            f"Signed at {when(report['signed_at'])}. Digest {grouped(report['signature_digest'])}: "
            f"{verdict} against the text, names, time, officer and signature shown."
        )
    if report["annotations"]:
        table(
            "Notes beside it",
            ["when", "by", "note"],
            [[when(a["at"]), a["by"], a["note"]] for a in report["annotations"]],
        )
