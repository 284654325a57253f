"""`tabard audit checkpoint|verify`: run on the server host, against the database and data
directory that TABARD_* settings name (docs/audit.md)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from mdm_server.audit.notes import NoteSigner
from mdm_server.cli.server import server_database
from mdm_server.config import Settings
from tabard.output import fail, print_json, stderr, stdout, table

if TYPE_CHECKING:
    from mdm_server.audit.origin import LogOrigin
    from mdm_server.db import Database

audit_app = typer.Typer(
    help="The tamper-evident audit log: checkpoints, verification, witnessing, evidence.",
    no_args_is_help=True,
)
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _signer(settings: Settings) -> NoteSigner:
    from mdm_server.audit.checkpoints import load_signer
    from mdm_server.crypto.keystore import KeyStore, KeyStoreError

    try:
        return load_signer(KeyStore(settings.keys_dir), settings)
    except KeyStoreError as exc:
        fail(str(exc))


def host_log_signer(settings: Settings, database: Database) -> tuple[NoteSigner, LogOrigin]:
    """The checkpoint key under the origin the log was signed as (docs/audit.md): read off
    the log, so the command needs no TABARD_PUBLIC_URL; TABARD_AUDIT_ORIGIN overrides."""
    from mdm_server.audit.origin import log_signer

    with database.unit_of_work(write=False) as session:
        return log_signer(
            session,
            data_dir=settings.data_dir,
            signer=_signer(settings),
            configured=settings.audit_origin,
        )


def _hinted(message: str, signer: NoteSigner, found: LogOrigin) -> str:
    from mdm_server.audit.origin import hint

    said = hint(signer.name, found)
    return f"{message}; {said}" if said else message


@audit_app.command("checkpoint")
def checkpoint(json_output: JsonOption = False) -> None:
    """Sign a checkpoint of the audit log now (the scheduler also does, every minute)."""
    from mdm_server.audit import checkpoints
    from mdm_server.clock import system_clock

    with server_database() as (settings, database):
        signer, found = host_log_signer(settings, database)
        try:
            with database.unit_of_work() as session:
                made = checkpoints.make(
                    session, signer=signer, data_dir=settings.data_dir, now=system_clock()
                )
        except checkpoints.LogContradictionError as exc:
            fail(_hinted(f"refused to sign: {exc.detail}", signer, found))
    if json_output:
        print_json({"size": made.checkpoint.size, "new": made.new, "note": made.checkpoint.note})
        return
    verb = "Signed" if made.new else "Already signed:"
    stdout.print(f"{verb} checkpoint of [bold]{made.checkpoint.size}[/] events.")
    stdout.print(made.checkpoint.note, highlight=False, markup=False, end="")


@audit_app.command("verify")
def verify(json_output: JsonOption = False) -> None:
    """Recompute the audit log's tree from the stored events and check every checkpoint.

    Exits 1 naming the first bad sequence number if anything was edited, deleted, inserted,
    reordered or truncated, or an older snapshot was restored."""
    from mdm_server.audit import checkpoints, handover, tree
    from mdm_server.audit.verify import verify as verify_log

    with server_database() as (settings, database):
        signer, found = host_log_signer(settings, database)
        verifier = signer.verifier()
        with database.unit_of_work(write=False) as session:
            try:
                published = checkpoints.published(
                    settings.data_dir, handover.chain(session, verifier)
                )
            except checkpoints.LogContradictionError as exc:
                fail(_hinted(str(exc.detail), signer, found))
            total = tree.size(session)
            with Progress(
                TextColumn("verifying"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=stderr,
                disable=json_output or not stderr.is_terminal,
                transient=True,
            ) as bar:
                task = bar.add_task("events", total=total)
                report = verify_log(
                    session,
                    verifier=verifier,
                    published=published,
                    progress=lambda done: bar.update(task, completed=done),
                )
    if json_output:
        print_json({**report.as_json(), "origin": signer.name})
    elif report.ok:
        stdout.print(
            f"[green]The audit log verifies:[/] {report.events} events, "
            f"{report.checkpoints} signed checkpoints (latest {report.latest_checkpoint}), "
            f"in {report.seconds:.1f} s."
        )
        stdout.print(f"Log origin: {signer.name}", highlight=False)
        if report.deleted_by_retention:
            stdout.print(
                f"{report.deleted_by_retention} older events were deleted by retention, "
                f"on signed record (up to event {report.retention_through})."
            )
    else:
        table(
            "Audit log problems",
            ["seq", "problem", "what"],
            [[p.seq, p.kind, p.message] for p in report.problems],
        )
    if not report.ok:
        fail(
            _hinted(
                f"the audit log does not verify; first bad sequence number: {report.first_bad_seq}"
                if report.first_bad_seq is not None
                else "the audit log does not verify: a checkpoint or the stored tree was altered",
                signer,
                found,
            )
        )


@audit_app.command("witness")
def witness(
    server: Annotated[str, typer.Option(help="The Tabard server's URL.")],
    state: Annotated[
        Path, typer.Option(help="The witness's own directory (keep it off IT's machines).")
    ],
    verifier_key: Annotated[
        str | None,
        typer.Option(help="The log's verifier key, got out of band; pinned on first use."),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Check the server's newest checkpoint against the one this witness holds.

    Accepts it only with a valid consistency proof; refuses a smaller size or a second root for
    the same size, keeping both notes under STATE/evidence. Exit 0 accepted or unchanged,
    2 refused (a finding), 1 could not check."""
    from mdm_server.audit.notes import NoteError
    from mdm_server.audit.witness import HttpLogServer, Witness, WitnessError

    keeper = Witness(state)
    log = HttpLogServer(server)
    try:
        if verifier_key is not None:
            keeper.pin(verifier_key)
        elif keeper.pinned_key() is None:
            fetched = log.verifier_key()
            keeper.pin(fetched)
            stderr.print(
                f"[yellow]Pinned the key the server gave:[/] {fetched}\n"
                "Compare it with the key the force published before trusting this witness."
            )
        result = keeper.observe(log)
    except (WitnessError, NoteError) as exc:
        fail(str(exc))
    finally:
        log.close()
    if json_output:
        print_json(result.as_json())
    elif result.outcome == "refused":
        stderr.print(
            f"[bold red]REFUSED[/] checkpoint {result.offered} (holding {result.held}): "
            f"{result.reason}\nEvidence kept in {result.evidence}"
        )
    else:
        said = {
            "first": f"Holding the first checkpoint: {result.offered} events.",
            "accepted": f"Accepted checkpoint {result.offered} (consistent with {result.held}).",
            "unchanged": f"No new checkpoint: still {result.offered} events.",
        }[result.outcome]
        for key in result.followed:
            stdout.print(
                f"Followed the log's key change, signed by the key held before, to: {key}",
                highlight=False,
            )
        stdout.print(f"[green]{said}[/]")
    if result.outcome == "refused":
        raise typer.Exit(2)


@audit_app.command("export")
def export(
    start: Annotated[str, typer.Option("--from", help="From (ISO date or time, UTC if no zone).")],
    end: Annotated[str, typer.Option("--to", help="Until, exclusive (ISO date or time).")],
    out: Annotated[Path, typer.Option(help="Where to write the bundle (.zip).")],
    officer: Annotated[str | None, typer.Option(help="An officer's collar number.")] = None,
    device: Annotated[str | None, typer.Option(help="A device id.")] = None,
) -> None:
    """Export an evidential bundle: the events, their proofs, the checkpoints and a README
    (auditor; the export is audited). Check it with `tabard audit verify-bundle`."""
    from mdm_server.cli.accounts import api_errors
    from mdm_server.cli.session import StaffClient

    params = {"from": parse_instant(start, "--from"), "to": parse_instant(end, "--to")}
    if officer:
        params["officer"] = officer
    if device:
        params["device"] = device
    with api_errors():
        data = StaffClient.from_stored().download("/api/v1/audit/export", params=params)
    write_private(out, data)
    stdout.print(
        f"Wrote {out} ({len(data):,} bytes). Check it with: tabard audit verify-bundle {out}"
    )


def write_private(out: Path, data: bytes) -> None:
    """Write personal data where only this user may read it (mode 0600)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def parse_instant(text: str, option: str) -> str:
    from datetime import UTC, datetime

    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"'{text}' is not an ISO date or time", param_hint=option
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat()


@audit_app.command("verify-bundle")
def verify_bundle(
    path: Annotated[Path, typer.Argument(help="The bundle (.zip).")],
    verifier_key: Annotated[
        str | None, typer.Option(help="The force's published key; the bundle must use it.")
    ] = None,
    key_changes: Annotated[
        Path | None,
        typer.Option(
            help="The log's key changes (JSON from GET /api/v1/audit/key-changes): accept a "
            "bundle signed before the key changed to --verifier-key."
        ),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Check an evidential bundle with nothing but the bundle: signatures, every event's
    inclusion proof, the consistency proof. Exit 1 naming what is wrong."""
    from mdm_server.audit.bundle import BundleError
    from mdm_server.audit.bundle import verify as check

    notes = _key_change_notes(key_changes) if key_changes is not None else None
    try:
        verified = check(path, verifier_key=verifier_key, key_changes=notes)  # streamed
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}")
    except BundleError as exc:
        fail(f"the bundle does not verify: {exc}")
    if json_output:
        print_json({"ok": True, **verified.__dict__})
        return
    stdout.print(
        f"[green]The bundle verifies:[/] {verified.events} events from {verified.origin}, "
        f"proven in checkpoint {verified.checkpoint_size}, consistent with checkpoint "
        f"{verified.latest_size}."
    )
    stdout.print(f"Signed by: {verified.verifier_key}", highlight=False)
    for number, key in enumerate(verified.handed_over_to, start=1):
        stdout.print(f"which handed over ({number}) to: {key}", highlight=False)
    if verifier_key is None:
        stdout.print("Compare that key with the one the force publishes.")


def _key_change_notes(path: Path) -> list[str]:
    """The notes of a saved GET /api/v1/audit/key-changes answer."""
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
        return [str(item["note"]) for item in body["key_changes"]]
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}")
    except (ValueError, KeyError, TypeError):
        fail(f"{path} is not the JSON GET /api/v1/audit/key-changes answers")
