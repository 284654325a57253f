"""`tabard provision`: one device (`--target` or `--usb`) or a batch (`--manifest`), with a plan
to read first (`--dry-run`), live progress, a report, and every step on the audit record."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from device_agent.adb import AdbConnection, host_signer, parse_target
from device_agent.errors import AgentError
from device_agent.payload import EnrolmentPayload
from provisioning.batch import (
    ManifestError,
    Report,
    Row,
    checked_row,
    read_manifest,
    run_batch,
)
from provisioning.facts import Shell
from provisioning.plan import Options
from provisioning.render import print_plan, print_results
from provisioning.runner import DeviceResult, StepResult
from provisioning.runner import provision as provision_device
from provisioning.steps import Inputs
from provisioning.trail import AuditTrail
from tabard.output import fail, print_json, stderr

MAX_APK_BYTES = 512 * 1024 * 1024


def _read(path: Path, what: str, limit: int = MAX_APK_BYTES) -> bytes:
    try:
        if path.stat().st_size > limit:
            fail(f"{path}: larger than {limit // (1024 * 1024)} MiB; is it {what}?", code=2)
        return path.read_bytes()
    except OSError as exc:
        fail(f"{path}: {exc.strerror or exc}", code=2)


def _payload(path: Path | None, dry_run: bool) -> str:
    """The QR payload's JSON, from the payload itself or `tabard tokens create --json`."""
    if path is None:
        if dry_run:
            return ""
        fail("give --payload FILE: the enrolment payload (`tabard tokens create --json`)", code=2)
    text = _read(path, "an enrolment payload", 64 * 1024).decode(errors="replace")
    try:
        data = json.loads(text)
        if isinstance(data, dict) and isinstance(data.get("payload"), dict):
            text = json.dumps(data["payload"])
        parsed = EnrolmentPayload.parse(text)
    except (AgentError, ValueError) as exc:
        fail(f"{path}: {exc}", code=2)
    return json.dumps(
        {"server": parsed.server, "token": parsed.token, "ca_sha256": parsed.ca_sha256}
    )


def _policy(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    from mdm_server.cli.policy import read_policy_file
    from policies import PolicyError, parse_policy

    data, _ = read_policy_file(path)
    try:
        parse_policy(data)
    except PolicyError as error:
        fail(f"{path}: not a valid policy: {'; '.join(error.errors[:3])}", code=2)
    return dict(data)


def _apps(directory: Path | None) -> dict[str, bytes]:
    """`--apps DIR`: police app APKs named `<package>.apk`."""
    if directory is None:
        return {}
    if not directory.is_dir():
        fail(f"--apps {directory}: not a directory of <package>.apk files", code=2)
    return {apk.stem: _read(apk, "an APK") for apk in sorted(directory.glob("*.apk"))}


def _rows(
    target: str | None,
    usb: str | None,
    manifest: Path | None,
    officer: str | None,
    group: str | None,
    expected_model: str | None,
) -> list[Row]:
    chosen = [
        name
        for name, value in (("--target", target), ("--usb", usb), ("--manifest", manifest))
        if value
    ]
    if len(chosen) != 1:
        fail("give exactly one of --target HOST:PORT, --usb SERIAL or --manifest FILE", code=2)
    if manifest is None:
        try:
            return [
                checked_row(
                    target=target,
                    usb_serial=usb,
                    officer=officer,
                    group=group,
                    expected_model=expected_model,
                    where="--",
                )
            ]
        except ManifestError as exc:
            fail(str(exc), code=2)
    try:
        return read_manifest(_read(manifest, "a manifest", 16 * 1024 * 1024).decode())
    except (ManifestError, UnicodeDecodeError) as exc:
        fail(f"{manifest}: {exc}", code=2)


def _audit() -> AuditTrail | None:
    """The audit trail through the stored IT session, or None if there is none."""
    from mdm_server.cli.session import SESSION_FILE, StaffClient, config_dir

    if not (config_dir() / SESSION_FILE).exists():
        return None
    client = StaffClient.from_stored()
    return AuditTrail(
        lambda events: client.post("/api/v1/provisioning/events", json={"events": events})
    )


def provision(
    target: Annotated[
        str | None, typer.Option(help="HOST:PORT of one device with ADB over TCP.")
    ] = None,
    usb: Annotated[
        str | None, typer.Option(help="Serial of one device on USB (needs the usb extra).")
    ] = None,
    manifest: Annotated[
        Path | None,
        typer.Option(help="CSV of devices: target or serial, officer, group, expected_model."),
    ] = None,
    payload: Annotated[
        Path | None, typer.Option(help="Enrolment payload JSON (`tabard tokens create --json`).")
    ] = None,
    apk: Annotated[Path | None, typer.Option(help="The Tabard agent APK to install.")] = None,
    apps: Annotated[
        Path | None, typer.Option(help="Directory of police app APKs, <package>.apk.")
    ] = None,
    policy: Annotated[
        Path | None, typer.Option(help="Policy whose apps, blocked apps and settings to apply.")
    ] = None,
    knox_licensed: Annotated[
        bool,
        typer.Option("--knox-licensed", help="Android 7.x: device owner with a Knox Workspace."),
    ] = False,
    officer: Annotated[str | None, typer.Option(help="Collar number (one device).")] = None,
    group: Annotated[str | None, typer.Option(help="Group (one device).")] = None,
    expected_model: Annotated[
        str | None, typer.Option(help="Refuse any other model (one device).")
    ] = None,
    parallel: Annotated[int, typer.Option(min=1, max=64, help="Devices at a time.")] = 4,
    report: Annotated[
        Path | None,
        typer.Option(help="Report file (.json; a .csv is written beside it); resumes from it."),
    ] = None,
    auth_timeout: Annotated[
        float, typer.Option(min=1, max=600, help="Seconds to wait for the USB debugging prompt.")
    ] = 30.0,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan; change nothing.")
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Prepare devices over ADB: install the agent, set owners, make the secure side, apply
    the baseline and hand over enrolment. Exit 0 only if every device ended as planned."""
    from mdm_server.cli.session import config_dir

    rows = _rows(target, usb, manifest, officer, group, expected_model)
    if report is not None and report.suffix != ".json":
        fail("--report must name a .json file (the CSV is written beside it)", code=2)
    try:
        state = Report.load(report) if report is not None else Report(None)
    except ManifestError as exc:
        fail(str(exc), code=2)
    inputs = Inputs(
        payload=_payload(payload, dry_run),
        agent_apk=_read(apk, "an APK") if apk else None,
        app_apks=_apps(apps),
    )
    policy_document = _policy(policy)
    signer = host_signer(config_dir())
    trail = _audit()
    if trail is None and not dry_run:
        fail("log in first (`tabard login`): every provisioning run is recorded under your name")
    if trail is not None:
        try:
            trail.start(devices=len(rows), dry_run=dry_run)
        except Exception as exc:  # nothing is touched unless the start is on record
            fail(f"the server did not record the run's start, so nothing was touched: {exc}")

    @contextmanager
    def connect(row: Row) -> Iterator[Shell]:
        if row.usb_serial:
            connection = AdbConnection.over_usb(row.usb_serial, signer, auth_timeout_s=auth_timeout)
        else:
            host, port = parse_target(row.target or "")
            connection = AdbConnection(host, port, signer, auth_timeout_s=auth_timeout)
        with connection:
            yield connection

    with _progress(json_output) as progress:
        overall = progress.add_task("devices", total=len(rows))

        def work(row: Row, result: DeviceResult, saved: Any) -> None:
            task = progress.add_task(row.key, total=None)

            def listener(kind: str, res: DeviceResult, step: StepResult | None) -> None:
                _tell(trail, kind, res, step, dry_run)
                total = len(res.plan["steps"]) if res.plan else None
                progress.update(
                    task, total=total, completed=len(res.steps), description=_line(res, step)
                )
                saved(res, step)

            provision_device(
                result,
                connect=lambda: connect(row),
                inputs=inputs,
                options=Options(
                    apk=inputs.agent_apk is not None,
                    knox_licensed=knox_licensed,
                    policy=policy_document,
                    expected_model=row.expected_model,
                    officer=row.officer,
                    group=row.group,
                ),
                dry_run=dry_run,
                listener=listener,
            )
            progress.update(task, visible=False)
            progress.advance(overall)

        def skipped(row: Row) -> None:
            progress.advance(overall)

        run_batch(rows, state, work, parallel=parallel, on_skip=skipped)
    results = [state.results[row.key] for row in rows]
    summary = state.summary()
    undelivered = 0
    if trail is not None:
        trail.add("run_finished", devices=len(rows), outcome=_outcome(results, dry_run))
        undelivered = trail.close()
    if json_output:
        print_json(
            {
                "run_id": str(trail.run_id) if trail else None,
                "summary": summary,
                "devices": [r.to_dict() for r in results],
            }
        )
    elif dry_run and len(results) == 1:
        print_plan(results[0])
    else:
        print_results(results, summary, dry_run=dry_run, report=report)
    if undelivered:
        reason = trail.last_error if trail else ""
        fail(
            f"{undelivered} audit event(s) did not reach the server ({reason}); "
            "the report has the outcomes"
        )
    if any(r.status not in ("provisioned", "planned") for r in results):
        raise typer.Exit(1)


def _progress(json_output: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=stderr,
        disable=json_output,
        transient=True,
    )


def _line(result: DeviceResult, step: StepResult | None) -> str:
    where = f" {step.number}. {step.title}: {step.outcome}" if step else ""
    return f"{result.key} {result.model or ''}{where}"


def _outcome(results: list[DeviceResult], dry_run: bool) -> str:
    good = "planned" if dry_run else "provisioned"
    return "complete" if all(r.status == good for r in results) else "incomplete"


def _tell(
    trail: AuditTrail | None,
    kind: str,
    result: DeviceResult,
    step: StepResult | None,
    dry_run: bool,
) -> None:
    if trail is None:
        return
    common: dict[str, Any] = {"device": result.key, "serial": result.serial, "model": result.model}
    if kind == "device_started":
        trail.add(kind, mode=result.mode, dry_run=dry_run, **common)
    elif kind == "step" and step is not None:
        trail.add(
            kind,
            step=step.number,
            step_key=step.key,
            outcome=step.outcome,
            message=step.message[:2000],
            ms=step.ms,
            **common,
        )
    elif kind == "device_finished":
        trail.add(
            kind,
            outcome=result.status,
            mode=result.mode,
            message=result.message[:2000],
            ms=result.ms,
            dry_run=dry_run,
            **common,
        )
