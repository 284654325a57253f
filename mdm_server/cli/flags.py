"""`tabard flags ...` and `tabard directory load`: professional standards' review of the
appropriate-use flags, and the directory the rules read, over the API (auditors only;
docs/appropriate-use.md). Every read and every decision is audited by the server."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from mdm_server.cli.accounts import JsonOption, api_errors
from mdm_server.cli.audit_search import event_table
from mdm_server.cli.session import ApiError, StaffClient, segment
from tabard.output import (
    describe_detail,
    empty,
    fail,
    fields,
    plain,
    print_json,
    short_id,
    stdout,
    styled,
    table,
    when,
)

flags_app = typer.Typer(
    help="Appropriate-use flags: leads for review, never verdicts (auditor).",
    no_args_is_help=True,
)
directory_app = typer.Typer(
    help="The directory the appropriate-use rules read (auditor).", no_args_is_help=True
)

STATUS_STYLE = {"open": "yellow", "escalated": "bold red", "dismissed": "dim"}
MAX_DIRECTORY_CHARS = 64 * 1024 * 1024

FlagId = Annotated[
    str, typer.Argument(help="The flag id, or its first 8 characters as `list` shows them.")
]
Note = Annotated[
    str, typer.Option(help="Why, in 3 to 4,000 characters (kept with the flag and audited).")
]


class Shown(StrEnum):
    open = "open"
    dismissed = "dismissed"
    escalated = "escalated"
    all = "all"


NOTE_CHARS = (3, 4000)


def _status(value: str) -> Text:
    return styled(value, STATUS_STYLE.get(value, ""))


@flags_app.command("list")
def flags_list(
    status: Annotated[Shown, typer.Option(help="Which flags.")] = Shown.open,
    officer: Annotated[str | None, typer.Option(help="Only this officer (collar).")] = None,
    rule: Annotated[str | None, typer.Option(help="Only this rule, e.g. self_search.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    json_output: JsonOption = False,
) -> None:
    """The flags, highest score first."""
    query = {
        "status": status.value,
        "officer": officer,
        "rule": rule,
        "limit": limit,
        "offset": offset,
    }
    with api_errors():
        page = StaffClient.from_stored().get("/api/v1/audit/flags", params=query)
    if json_output:
        print_json(page)
        return
    if not page["items"]:
        empty("No flags." if status == Shown.all else f"No {status.value} flags.")
        return
    shown = f"{offset + 1}-{offset + len(page['items'])} of {page['total']}"
    table(
        f"Flags, {status.value} ({shown})",
        ["id", "rule", "officer", "score", "status", "evidence", "raised", "updated"],
        [
            [
                short_id(f["id"]),
                f["rule"],
                f["officer"],
                f"{f['score']:.2f}",
                _status(f["status"]),
                f["evidence_count"],
                when(f["raised_at"]),
                when(f["updated_at"]),
            ]
            for f in page["items"]
        ],
        keep_whole=("rule", "raised", "updated"),
    )


@flags_app.command("show")
def flags_show(flag_id: FlagId, json_output: JsonOption = False) -> None:
    """A flag with its notes and the transactions behind it (the read is audited)."""
    with api_errors():
        flag = StaffClient.from_stored().get(f"/api/v1/audit/flags/{segment(flag_id)}")
    if json_output:
        print_json(flag)
        return
    fields(
        f"Flag {short_id(flag['id'])} ({flag['id']})",
        [
            ("rule", flag["rule"]),
            ("officer", flag["officer"]),
            ("status", _status(flag["status"])),
            ("score", f"{flag['score']:.2f}"),
            ("about", flag["key"]),
            *((name.replace("_", " "), plain(value)) for name, value in flag["detail"].items()),
            ("raised", when(flag["raised_at"])),
            ("updated", when(flag["updated_at"])),
        ],
    )
    if flag["notes"]:
        table(
            "Notes",
            ["at", "by", "decision", "note"],
            [[when(n["at"]), n["author"], _decision(n), n["note"]] for n in flag["notes"]],
            keep_whole=("at", "by"),
        )
    else:
        empty("No notes yet.")
    event_table(f"Evidence: {len(flag['evidence'])} transactions", flag["evidence"])
    stdout.print(
        f"Review it: tabard flags dismiss|escalate|reopen {short_id(flag['id'])} --note '...'"
    )


def _decision(note: dict[str, Any]) -> str:
    before, after = note["status_from"], note["status_to"]
    return "note only" if before == after else f"{before} → {after}"


def _review(flag_id: str, decision: str | None, note: str, json_output: bool) -> None:
    shortest, longest = NOTE_CHARS
    if not shortest <= len(note.strip()) <= longest:
        fail(f"--note: write {shortest} to {longest:,} characters saying why")
    path = f"/api/v1/audit/flags/{segment(flag_id)}"
    with api_errors():
        client = StaffClient.from_stored()
        if decision is None:
            flag = client.post(f"{path}/notes", json={"note": note})
        else:
            flag = client.post(f"{path}/review", json={"decision": decision, "note": note})
    if json_output:
        print_json(flag)
    elif decision is None:
        stdout.print(f"Note added to flag {short_id(flag['id'])} ({flag['status']}).")
    else:
        stdout.print(f"Flag {short_id(flag['id'])} is now {flag['status']}.")


@flags_app.command("dismiss")
def flags_dismiss(flag_id: FlagId, note: Note, json_output: JsonOption = False) -> None:
    """Dismiss an open or escalated flag: nothing inappropriate, or the investigation ended."""
    _review(flag_id, "dismissed", note, json_output)


@flags_app.command("escalate")
def flags_escalate(flag_id: FlagId, note: Note, json_output: JsonOption = False) -> None:
    """Escalate an open flag for investigation."""
    _review(flag_id, "escalated", note, json_output)


@flags_app.command("reopen")
def flags_reopen(flag_id: FlagId, note: Note, json_output: JsonOption = False) -> None:
    """Reopen a dismissed flag."""
    _review(flag_id, "open", note, json_output)


@flags_app.command("note")
def flags_note(flag_id: FlagId, note: Note, json_output: JsonOption = False) -> None:
    """Add a note to a flag without moving it."""
    _review(flag_id, None, note, json_output)


def _read_directory(path: Path) -> Any:
    try:
        if str(path) == "-":
            text = sys.stdin.read(MAX_DIRECTORY_CHARS + 1)
        else:
            with path.open(encoding="utf-8") as handle:
                text = handle.read(MAX_DIRECTORY_CHARS + 1)
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror or exc}")
    except UnicodeDecodeError:
        fail(f"{path} is not UTF-8 text; the directory is a JSON document")
    if len(text) > MAX_DIRECTORY_CHARS:
        fail(f"{path} is larger than {MAX_DIRECTORY_CHARS // (1024 * 1024)} MiB")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}")


@directory_app.command("load")
def directory_load(
    file: Annotated[
        Path,
        typer.Argument(
            help='JSON: {"officers": {COLLAR: {"own", "associations", "shifts"}}, '
            "\"protected\": [...]} ('-' for standard input)."
        ),
    ],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    json_output: JsonOption = False,
) -> None:
    """Replace the directory the rules read (officers' own records, declared associations and
    shifts, and the protected list) from the force's HR, vetting and rostering systems. Names
    become subject keys on arrival and are never stored."""
    if str(file) == "-" and not yes:
        fail("reading the directory from standard input leaves nothing to confirm with: add --yes")
    document = _read_directory(file)
    if not isinstance(document, dict):
        fail(f"{file}: the directory is a JSON object with `officers` and `protected`")
    if not yes and not typer.confirm("Replace the whole directory the rules read?"):
        raise typer.Exit(1)
    try:
        loaded = StaffClient.from_stored().put("/api/v1/audit/directory", json=document)
    except ApiError as exc:
        if exc.status == 413:
            fail(
                f"{describe_detail(exc.detail)}: the server's limit is TABARD_MAX_BODY_BYTES; "
                "ask IT to raise it for the directory's size"
            )
        fail(f"{describe_detail(exc.detail)} ({exc.code})")
    if json_output:
        print_json(loaded)
        return
    stdout.print(
        f"Directory loaded: {loaded['officers']} officers, {loaded['own_records']} own records, "
        f"{loaded['associations']} associations, {loaded['shifts']} shifts, "
        f"{loaded['protected']} protected subjects."
    )
