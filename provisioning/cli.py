"""`tabard provision`: one device (`--target` or `--usb`) or a batch (`--manifest`), with a plan
to read first (`--dry-run`), live progress, a report, and every step on the audit record.

Nothing on any device is touched until everything the run was given has been checked, and
every problem is named at once: the manifest, the payload, the APKs, the policy, and, with
the server, the officers, groups and enrolment token. A dry run makes the same checks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from device_agent.adb import AdbConnection, host_signer, parse_target
from provisioning.batch import (
    ManifestError,
    Report,
    Row,
    checked_row,
    read_manifest,
    run_batch,
    skipped,
    summarise,
)
from provisioning.catalogue import from_catalogue
from provisioning.facts import Shell
from provisioning.fleet import WAIT_S, Enrolling, TokenUses
from provisioning.inputs import RunFiles, read_run_files
from provisioning.plan import Options
from provisioning.render import print_plan, print_results
from provisioning.runner import DeviceResult, StepResult
from provisioning.runner import provision as provision_device
from provisioning.server import Server, StaffFleet, check_enrolment_server, check_run
from provisioning.steps import Inputs
from provisioning.trail import AuditTrail
from tabard.output import print_json, stderr

MAX_MANIFEST_BYTES = 16 * 1024 * 1024


def _refuse(problems: list[str]) -> NoReturn:
    stderr.print(
        "[bold red]error:[/] the run cannot start, and no device was touched:", highlight=False
    )
    for problem in problems:
        stderr.print(f"  - {problem}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


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
        _refuse(["give exactly one of --target HOST:PORT, --usb SERIAL or --manifest FILE"])
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
            _refuse(exc.problems)
    try:
        if manifest.stat().st_size > MAX_MANIFEST_BYTES:
            _refuse([f"{manifest}: larger than 16 MiB; is it a manifest?"])
        return read_manifest(manifest.read_text(encoding="utf-8"))
    except OSError as exc:
        _refuse([f"{manifest}: {exc.strerror or exc}"])
    except UnicodeDecodeError:
        _refuse([f"{manifest}: not UTF-8 text"])
    except ManifestError as exc:
        _refuse([f"{manifest}: {problem}" for problem in exc.problems])


def _server() -> Server | None:
    """IT's stored session, or None if there is none."""
    from mdm_server.cli.session import SESSION_FILE, StaffClient, config_dir

    if not (config_dir() / SESSION_FILE).exists():
        return None
    return Server(StaffClient.from_stored())


def _checks(
    rows: list[Row], state: Report, files: RunFiles, server: Server | None, agents: Path | None
) -> tuple[list[str], TokenUses]:
    """Everything the run would fail on before it touched a device, all at once; and the
    enrolment token's uses, for the devices to share out."""
    problems = list(files.problems)
    pending = [row for row in rows if not state.done(row.key)]
    if agents is not None:
        on_usb = [row.key for row in pending if row.usb_serial]
        if on_usb:
            problems.append(
                f"--agents runs each agent over ADB on TCP; these are on USB: {', '.join(on_usb)}"
            )
        if files.enrolment is not None and (unreachable := check_enrolment_server(files.enrolment)):
            problems.append(unreachable)
    if server is None:
        problems.append(
            "log in first (`tabard login`): every run is recorded under your name, and its "
            "officers, groups and enrolment token are checked with the server"
        )
        return problems, TokenUses(None)
    preflight = check_run(server, pending, enrolment=files.enrolment)
    return problems + preflight.problems, preflight.tokens


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
    apk: Annotated[
        Path | None,
        typer.Option(
            help="The Tabard agent APK to install (else the newest in the server's catalogue)."
        ),
    ] = None,
    apps: Annotated[
        Path | None,
        typer.Option(
            help="Directory of police app APKs, <package>.apk (else the server's catalogue: "
            "the apps the policy allows, or every app)."
        ),
    ] = None,
    policy: Annotated[
        Path | None, typer.Option(help="Policy whose apps, blocked apps and settings to apply.")
    ] = None,
    agents: Annotated[
        Path | None,
        typer.Option(
            help="Run each device's agent from this host, its state in DIR/SERIAL "
            "(virtual devices, which have no agent app of their own)."
        ),
    ] = None,
    enrol_timeout: Annotated[
        float,
        typer.Option(min=1, max=3600, help="Seconds to wait for a phone's agent to enrol."),
    ] = WAIT_S,
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
        bool,
        typer.Option("--dry-run", help="Check everything and print the plan; change nothing."),
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Prepare devices over ADB: install the agent, set owners, make the secure side, apply
    the baseline, hand over enrolment, then see the agent enrol, assign the device and see it
    check in. Exit 0 only if every device ended as planned."""
    from mdm_server.cli.session import config_dir

    rows = _rows(target, usb, manifest, officer, group, expected_model)
    if report is not None and report.suffix != ".json":
        _refuse(["--report must name a .json file (the CSV is written beside it)"])
    try:
        state = Report.load(report) if report is not None else Report(None)
    except ManifestError as exc:
        _refuse(exc.problems)
    files = read_run_files(payload=payload, apk=apk, apps=apps, policy=policy)
    server = _server()
    if server is not None:
        from_catalogue(server, files, agent=apk is None, apps=apps is None)
    problems, tokens = _checks(rows, state, files, server, agents)
    if problems:
        _refuse(problems)
    assert server is not None
    signer = host_signer(config_dir())
    trail = AuditTrail(server.post_events)
    try:
        trail.start(devices=len(rows), dry_run=dry_run)
    except Exception as exc:  # nothing is touched unless the start is on record
        _refuse([f"the server did not record the run's start: {exc}"])
    inputs = Inputs(payload=files.payload, agent_apk=files.agent_apk, app_apks=files.app_apks)
    enrolment = Enrolling(
        StaffFleet(server), host_keys=config_dir(), tokens=tokens, wait_s=enrol_timeout
    )
    done = {row.key for row in rows if state.done(row.key)}

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
                    app_files=frozenset(inputs.app_apks),
                    knox_licensed=knox_licensed,
                    policy=files.policy,
                    expected_model=row.expected_model,
                    officer=row.officer,
                    group=row.group,
                    enrol=True,
                    agents=str(agents) if agents is not None else None,
                ),
                dry_run=dry_run,
                listener=listener,
                target=row.target,
                enrolment=enrolment,
            )
            progress.update(task, visible=False)
            progress.advance(overall)

        def skip(row: Row) -> None:
            _tell(trail, "device_finished", skipped(state.results[row.key]), None, dry_run)
            progress.advance(overall)

        run_batch(rows, state, work, parallel=parallel, on_skip=skip)
    results = [
        skipped(state.results[row.key]) if row.key in done else state.results[row.key]
        for row in rows
    ]
    trail.add("run_finished", devices=len(rows), outcome=_outcome(results, dry_run))
    _finish(results, trail, dry_run=dry_run, json_output=json_output, report=report)


def _finish(
    results: list[DeviceResult],
    trail: AuditTrail,
    *,
    dry_run: bool,
    json_output: bool,
    report: Path | None,
) -> None:
    """Say how the run ended, and exit non-zero unless every device ended as planned."""
    undelivered = trail.close()
    summary = summarise(results)
    if json_output:
        devices = [result.to_dict() for result in results]
        print_json({"run_id": str(trail.run_id), "summary": summary, "devices": devices})
    elif dry_run and len(results) == 1:
        print_plan(results[0])
    else:
        print_results(results, summary, dry_run=dry_run, report=report)
    if undelivered:
        stderr.print(
            f"[bold red]error:[/] {undelivered} audit event(s) did not reach the server "
            f"({trail.last_error}); the report has the outcomes",
            highlight=False,
        )
        raise typer.Exit(1)
    if any(r.status not in ("provisioned", "planned", "skipped") for r in results):
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
    good = ("planned" if dry_run else "provisioned", "skipped")
    return "complete" if all(r.status in good for r in results) else "incomplete"


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
